package shop

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Handler serves the shop under /shop/. A session is the "sid" cookie set
// by /shop/start?sess=ID&seed=N; each env instance has its own browser
// context, so its cookie is its own.
func (s *Shop) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shop/start", s.start)
	mux.HandleFunc("GET /shop/{$}", s.withSession(s.home))
	mux.HandleFunc("GET /shop/search", s.withSession(s.results))
	mux.HandleFunc("GET /shop/item/{id}", s.withSession(s.item))
	mux.HandleFunc("POST /shop/buy", s.withSession(s.buy))
	mux.HandleFunc("GET /shop/done", s.withSession(s.done))
	return mux
}

func (s *Shop) start(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("sess")
	seed, err := strconv.ParseInt(r.FormValue("seed"), 10, 64)
	if id == "" || err != nil {
		http.Error(w, "start needs sess and an integer seed", http.StatusBadRequest)
		return
	}
	s.StartSession(id, seed)
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/shop/", HttpOnly: true})
	http.Redirect(w, r, "/shop/", http.StatusSeeOther)
}

type handler func(w http.ResponseWriter, r *http.Request, ss *session, sid string)

func (s *Shop) withSession(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		var ss *session
		if err == nil {
			ss, _ = s.session(c.Value)
		}
		if ss == nil {
			http.Error(w, "no shop session; the episode has ended or was never started", http.StatusForbidden)
			return
		}
		h(w, r, ss, c.Value)
	}
}

func page(w http.ResponseWriter, title string, in Instruction, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><title>`+html.EscapeString(title)+`</title>`+
		`<style>body{font:14px sans-serif;margin:8px;max-width:700px}.instr{background:#eef;padding:6px}a{margin-right:6px}</style></head><body>`+
		`<div class="instr" aria-hidden="true">Instruction: `+html.EscapeString(in.Text)+`</div>`+body+`</body></html>`)
}

func searchForm(q string) string {
	return `<form action="/shop/search" method="get"><input type="text" name="q" aria-label="Search" value="` + html.EscapeString(q) + `"><button>Search</button></form>`
}

func (s *Shop) home(w http.ResponseWriter, r *http.Request, ss *session, _ string) {
	page(w, "Shop", ss.instr, `<h1>Shop</h1>`+searchForm(""))
}

func (s *Shop) results(w http.ResponseWriter, r *http.Request, ss *session, _ string) {
	q := r.FormValue("q")
	pg, _ := strconv.Atoi(r.FormValue("page"))
	if pg < 1 {
		pg = 1
	}
	hits := s.Search(q)
	pages := max(1, (len(hits)+PageSize-1)/PageSize)
	pg = min(pg, pages)
	var b strings.Builder
	b.WriteString(`<a href="/shop/">Back to search</a>`)
	fmt.Fprintf(&b, "<h2>Results for %q</h2><p>Page %d of %d (%d results)</p>", html.EscapeString(q), pg, pages, len(hits))
	for _, p := range hits[min(len(hits), (pg-1)*PageSize):min(len(hits), pg*PageSize)] {
		fmt.Fprintf(&b, `<div><a href="/shop/item/%s?%s">%s %s — $%.2f</a></div>`, p.ID, url.Values{"q": {q}, "page": {strconv.Itoa(pg)}}.Encode(), p.ID, html.EscapeString(p.Title), p.Price)
	}
	b.WriteString("<p>")
	if pg > 1 {
		fmt.Fprintf(&b, `<a href="/shop/search?%s">&lt; Prev</a>`, url.Values{"q": {q}, "page": {strconv.Itoa(pg - 1)}}.Encode())
	}
	if pg < pages {
		fmt.Fprintf(&b, `<a href="/shop/search?%s">Next &gt;</a>`, url.Values{"q": {q}, "page": {strconv.Itoa(pg + 1)}}.Encode())
	}
	b.WriteString("</p>")
	page(w, "Results", ss.instr, b.String())
}

func optionNames(p *Product) []string {
	names := make([]string, 0, len(p.Options))
	for n := range p.Options {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Shop) item(w http.ResponseWriter, r *http.Request, ss *session, _ string) {
	p, ok := s.byID[r.PathValue("id")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	var b strings.Builder
	back := url.Values{"q": {q.Get("q")}, "page": {q.Get("page")}}
	fmt.Fprintf(&b, `<a href="/shop/search?%s">&lt; Back to results</a><h2>%s</h2><p>Price: $%.2f</p><p>Features: %s</p>`,
		back.Encode(), html.EscapeString(p.Title), p.Price, html.EscapeString(strings.Join(p.Attrs, ", ")))
	hidden := fmt.Sprintf(`<input type="hidden" name="id" value="%s">`, p.ID)
	for _, n := range optionNames(p) {
		fmt.Fprintf(&b, "<div>%s: ", html.EscapeString(n))
		for _, v := range p.Options[n] {
			link := url.Values{}
			for k, vs := range q {
				link[k] = vs
			}
			link.Set(n, v)
			cur := ""
			if q.Get(n) == v {
				cur = ` aria-current="true" style="font-weight:bold"`
			}
			fmt.Fprintf(&b, `<a href="/shop/item/%s?%s" aria-label="%s %s"%s>%s</a>`, p.ID, link.Encode(), html.EscapeString(n), html.EscapeString(v), cur, html.EscapeString(v))
		}
		b.WriteString("</div>")
		if v := q.Get(n); v != "" {
			hidden += fmt.Sprintf(`<input type="hidden" name="opt_%s" value="%s">`, html.EscapeString(n), html.EscapeString(v))
		}
	}
	fmt.Fprintf(&b, `<form action="/shop/buy" method="post">%s<button>Buy Now</button></form>`, hidden)
	page(w, p.Title, ss.instr, b.String())
}

func (s *Shop) buy(w http.ResponseWriter, r *http.Request, ss *session, _ string) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, ok := s.byID[r.PostForm.Get("id")]
	if !ok {
		http.Error(w, "unknown product", http.StatusBadRequest)
		return
	}
	pu := &Purchase{ProductID: p.ID, Options: map[string]string{}}
	for k, v := range r.PostForm {
		if n, ok := strings.CutPrefix(k, "opt_"); ok && len(v) > 0 {
			pu.Options[n] = v[0]
		}
	}
	s.mu.Lock()
	if ss.purchase == nil {
		ss.purchase = pu
	}
	s.mu.Unlock()
	http.Redirect(w, r, "/shop/done", http.StatusSeeOther)
}

func (s *Shop) done(w http.ResponseWriter, r *http.Request, ss *session, _ string) {
	s.mu.Lock()
	pu := ss.purchase
	s.mu.Unlock()
	body := "<h2>No order yet</h2>"
	if pu != nil {
		p := s.byID[pu.ProductID]
		var opts []string
		for _, n := range optionNames(p) {
			if v, ok := pu.Options[n]; ok {
				opts = append(opts, n+": "+v)
			}
		}
		body = fmt.Sprintf("<h2>Thank you for your order</h2><p>%s (%s) — $%.2f</p>", html.EscapeString(p.Title), html.EscapeString(strings.Join(opts, ", ")), p.Price)
	}
	page(w, "Order placed", ss.instr, body)
}
