package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Download is a file a page of the session downloaded (a link to an
// attachment, <a download>, a blob saved by script).
type Download struct {
	URL      string `json:"url"`
	Filename string `json:"filename"` // the name the page suggested
	Bytes    int64  `json:"bytes"`
	// State is in_progress, completed or canceled (the page's server
	// failed, or the file passed MaxDownloadBytes).
	State string `json:"state"`
	guid  string
}

// downloadStart bounds the wait for a download a click should start
// (a link with a download attribute may point at nothing).
const downloadStart = time.Second

// MaxDownloadBytes bounds one download, and MaxDownloadingBytes those in
// progress together: a page cannot fill the plugin's disk.
const (
	MaxDownloadBytes    = 64 << 20
	MaxDownloadingBytes = 256 << 20
)

// downloads is a session's record of its downloads. Chromium saves them
// under the session's own folder; nothing reads the files, so each is
// removed once done, and the folder with the session.
type downloads struct {
	dir     string
	all     []*Download
	fresh   int           // all[fresh:] are not taken yet (TakeDownloads)
	waited  int           // len(all) at the end of the last waitDownloads
	changed chan struct{} // closed and replaced at each event
}

// allowDownloads lets the context download into a folder of its own and
// report each download, so that a navigation turned download ends its
// step and the step can say what was saved.
func (s *Session) allowDownloads(c context.Context) error {
	// Inside the browser's profile folder, so it goes with the browser
	// even when a session is never closed.
	dir, err := os.MkdirTemp(s.m.proc.DataDir(s.gen), "envgym-downloads-")
	if err != nil {
		return fmt.Errorf("browser: download folder: %w", err)
	}
	s.dl.dir, s.dl.changed = dir, make(chan struct{})
	on := true
	_, err = chromedp.CallBrowser(c, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: s.id,
		DownloadPath: dir, EventsEnabled: &on,
	})
	if err != nil {
		return fmt.Errorf("browser: download behavior: %w", err)
	}
	return nil
}

// listenDownload records the session's download events; the tab whose
// navigation turned into a download stops waiting for that navigation.
func (s *Session) listenDownload(ev any) {
	switch ev.(type) {
	case *browser.EventDownloadWillBegin, *browser.EventDownloadProgress:
	default:
		return // every other browser event, of every context
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := ev.(type) {
	case *browser.EventDownloadWillBegin:
		var tab *Tab
		for _, t := range s.tabs {
			if t.id == target.ID(e.FrameID) || t.frames.has(e.FrameID) {
				tab = t
			}
		}
		if _, ours := s.info[target.ID(e.FrameID)]; tab == nil && !ours {
			return // another context's
		}
		s.dl.all = append(s.dl.all, &Download{URL: e.URL, Filename: e.SuggestedFilename, State: "in_progress", guid: e.GUID})
		if tab != nil {
			tab.nav.stop()
			tab.stay.Store(true)
		}
	case *browser.EventDownloadProgress:
		d := s.dl.find(e.GUID)
		if d == nil {
			return
		}
		d.Bytes = int64(e.ReceivedBytes)
		switch e.State {
		case browser.DownloadProgressStateCompleted:
			d.State = "completed"
		case browser.DownloadProgressStateCanceled:
			d.State = "canceled"
		}
		if d.State != "in_progress" {
			s.dl.clean()
		} else if d.Bytes > MaxDownloadBytes || s.dl.inProgressBytes() > MaxDownloadingBytes {
			// Not from the event loop: the call's reply comes through it.
			go func(guid string) {
				c, cancel := context.WithTimeout(s.bctx, 5*time.Second)
				defer cancel()
				_, _ = chromedp.CallBrowser(c, browser.CancelDownload, browser.CancelDownloadParams{GUID: guid, BrowserContextID: s.id})
			}(d.guid)
		}
	}
	close(s.dl.changed)
	s.dl.changed = make(chan struct{})
}

// clean empties the folder once no download is in progress: the files
// (named by guid, with Chromium's partial files beside them) are not
// read by anything.
func (d *downloads) clean() {
	for _, x := range d.all {
		if x.State == "in_progress" {
			return
		}
	}
	entries, _ := os.ReadDir(d.dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(d.dir, e.Name()))
	}
}

func (d *downloads) inProgressBytes() int64 {
	var n int64
	for _, x := range d.all {
		if x.State == "in_progress" {
			n += x.Bytes
		}
	}
	return n
}

func (d *downloads) find(guid string) *Download {
	for _, x := range d.all {
		if x.guid == guid {
			return x
		}
	}
	return nil
}

// TakeDownloads lists the downloads that began since the last call, each
// as it stands now.
func (s *Session) TakeDownloads() []Download {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Download
	for _, d := range s.dl.all[s.dl.fresh:] {
		out = append(out, *d)
	}
	s.dl.fresh = len(s.dl.all)
	return out
}

// waitDownloads waits until none of the session's downloads is in
// progress, or the deadline; with clicked (the page saw a click on a
// link that downloads), first until a download began since the last
// wait, for downloadStart at most.
func (s *Session) waitDownloads(ctx context.Context, clicked bool, deadline time.Time) error {
	startBy := time.Now().Add(downloadStart)
	for {
		s.mu.Lock()
		waitStart := clicked && len(s.dl.all) == s.dl.waited && time.Now().Before(startBy)
		busy := waitStart
		for _, d := range s.dl.all {
			busy = busy || d.State == "in_progress"
		}
		ch := s.dl.changed
		if !busy {
			s.dl.waited = len(s.dl.all)
		}
		s.mu.Unlock()
		if !busy || ch == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		until := deadline
		if waitStart && startBy.Before(until) {
			until = startBy // then no longer waitStart
		}
		if err := waitFor(ctx, ch, until); err != nil {
			return err
		}
	}
}
