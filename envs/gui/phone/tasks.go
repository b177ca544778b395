package phone

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// State is the phone's app data: what the apps store and what validators
// read back from the page after every step.
type State struct {
	Seq      int       `json:"seq"`
	Clock    string    `json:"clock"`
	Today    string    `json:"today"` // YYYY-MM-DD
	Battery  int       `json:"battery"`
	Contacts []Contact `json:"contacts"`
	Alarms   []Alarm   `json:"alarms"`
	Notes    []Note    `json:"notes"`
	Events   []Event   `json:"events"`
	Settings Settings  `json:"settings"`
	Expenses []Expense `json:"expenses"`
}

type Contact struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
	Email string `json:"email"`
}

type Alarm struct {
	ID    int    `json:"id"`
	H     int    `json:"h"`
	M     int    `json:"m"`
	Label string `json:"label"`
	On    bool   `json:"on"`
}

type Note struct {
	ID    int    `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

type Event struct {
	ID    int    `json:"id"`
	Date  string `json:"date"`
	Title string `json:"title"`
	Time  string `json:"time"`
}

type Settings struct {
	WiFi      bool   `json:"wifi"`
	Bluetooth bool   `json:"bluetooth"`
	Airplane  bool   `json:"airplane"`
	Dark      bool   `json:"dark"`
	Location  bool   `json:"location"`
	Ringtone  string `json:"ringtone"`
}

type Expense struct {
	ID       int     `json:"id"`
	Amount   float64 `json:"amount"`
	Category string  `json:"category"`
	Note     string  `json:"note"`
}

var (
	firstNames = []string{"Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam", "Maya", "Nikos", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Xenia", "Yusuf", "Zoe"}
	lastNames  = []string{"Abbott", "Baker", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Hale", "Ito", "Jensen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber"}
	noteTitles = []string{"Groceries", "Trip ideas", "Books to read", "Meeting notes", "Gift list", "Recipes", "Workout plan", "Movie list", "Garden", "Packing list"}
	words      = []string{"apple", "river", "blue", "quick", "garden", "ticket", "window", "lemon", "paper", "cloud", "silver", "honey", "piano", "forest", "rocket"}
	eventNames = []string{"Dentist", "Team lunch", "Yoga class", "Call mom", "Book club", "Car service", "Haircut", "Concert", "Soccer game", "Date night"}
	categories = []string{"Food", "Transport", "Rent", "Fun", "Health", "Shopping"}
	ringtones  = []string{"Classic", "Beacon", "Chime", "Circuit", "Crystal", "Daybreak", "Harmony", "Lullaby", "Marimba", "Meadow", "Nightfall", "Orbit", "Pebble", "Radar", "Ripple", "Sunrise", "Twinkle", "Zen"}
	monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// initialState builds the seeded app data every task starts from.
func initialState(r *rand.Rand) State {
	s := State{Today: fmt.Sprintf("2026-03-%02d", 3+r.IntN(18)), Clock: fmt.Sprintf("%d:%02d", 8+r.IntN(3), r.IntN(60)), Battery: 40 + r.IntN(60)}
	next := func() int { s.Seq++; return s.Seq }
	used := map[string]bool{}
	for len(s.Contacts) < 16 {
		n := pick(r, firstNames) + " " + pick(r, lastNames)
		if used[n] {
			continue
		}
		used[n] = true
		first := strings.ToLower(strings.Fields(n)[0])
		s.Contacts = append(s.Contacts, Contact{ID: next(), Name: n, Phone: phoneNumber(r), Email: first + "@example.com"})
	}
	times := map[int]bool{}
	for len(s.Alarms) < 3 {
		h, m := 5+r.IntN(5), 5*r.IntN(12)
		if times[h*60+m] {
			continue
		}
		times[h*60+m] = true
		s.Alarms = append(s.Alarms, Alarm{ID: next(), H: h, M: m, Label: pick(r, []string{"Wake up", "Gym", "Work", ""}), On: r.IntN(2) == 0})
	}
	titles := slices.Clone(noteTitles)
	r.Shuffle(len(titles), func(i, j int) { titles[i], titles[j] = titles[j], titles[i] })
	for _, t := range titles[:4] {
		s.Notes = append(s.Notes, Note{ID: next(), Title: t, Body: pick(r, words) + " " + pick(r, words) + " " + pick(r, words)})
	}
	for range 4 {
		s.Events = append(s.Events, Event{ID: next(), Date: fmt.Sprintf("2026-03-%02d", 1+r.IntN(28)), Title: pick(r, eventNames), Time: fmt.Sprintf("%02d:00", 9+r.IntN(9))})
	}
	s.Settings = Settings{WiFi: r.IntN(2) == 0, Bluetooth: r.IntN(2) == 0, Airplane: r.IntN(2) == 0, Dark: r.IntN(2) == 0, Location: r.IntN(2) == 0, Ringtone: pick(r, ringtones[:4])}
	for range 8 {
		s.Expenses = append(s.Expenses, Expense{ID: next(), Amount: float64(300+r.IntN(11700)) / 100, Category: pick(r, categories), Note: pick(r, []string{"", "lunch", "taxi", "pharmacy", "cinema", "groceries"})})
	}
	return s
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func phoneNumber(r *rand.Rand) string {
	return fmt.Sprintf("555-%03d-%04d", r.IntN(1000), r.IntN(10000))
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// step is one move of a task's scripted oracle, resolved against the live
// screen when the oracle is asked (element bounds come from the page).
type step struct {
	kind string // open, tap, long, type, enter, answer, swipe, back
	sel  string // CSS selector of the target (oracle only; agents see pixels)
	text string // app name, text to type, answer, or swipe direction
}

func open(app string) step               { return step{kind: "open", text: app} }
func tapOn(sel string) step              { return step{kind: "tap", sel: sel} }
func longOn(sel string) step             { return step{kind: "long", sel: sel} }
func typeInto(sel, text string) step     { return step{kind: "type", sel: sel, text: text} }
func answerWith(text string) step        { return step{kind: "answer", text: text} }
func swipeDir(dir string) step           { return step{kind: "swipe", text: dir} }
func idSel(prefix string, id int) string { return "#" + prefix + strconv.Itoa(id) }

// episode is one seeded instance of a task.
type episode struct {
	goal  string
	check func(s State, answer string) bool
	plan  []step
}

// task is a phone task: setup edits the seeded state and returns the goal,
// the validator and the oracle plan.
type task struct {
	id     string
	desc   string
	answer bool // ends with an answer action
	setup  func(r *rand.Rand, s *State) episode
}

// rngFor derives a task's generator from the seed.
func rngFor(seed int64, id string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(id))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func newName(r *rand.Rand, s *State) string {
	for {
		n := pick(r, firstNames) + " " + pick(r, lastNames)
		if !slices.ContainsFunc(s.Contacts, func(c Contact) bool { return c.Name == n }) {
			return n
		}
	}
}

func hhmm(h, m int) string { return fmt.Sprintf("%02d:%02d", h, m) }

// tasks is the phone task list, in spec order.
func tasks() []task {
	return []task{
		{id: "contacts-add", desc: "add a contact with a name and phone number", setup: func(r *rand.Rand, s *State) episode {
			name, ph := newName(r, s), phoneNumber(r)
			n := len(s.Contacts)
			return episode{
				goal: fmt.Sprintf("Add a contact named %s with phone number %s.", name, ph),
				check: func(st State, _ string) bool {
					return len(st.Contacts) == n+1 && slices.ContainsFunc(st.Contacts, func(c Contact) bool { return c.Name == name && digits(c.Phone) == digits(ph) })
				},
				plan: []step{open("Contacts"), tapOn(`[aria-label="Add contact"]`), typeInto("#f-name", name), typeInto("#f-phone", ph), tapOn(`.bar [data-act=csave]`)},
			}
		}},
		{id: "contacts-delete", desc: "delete a contact (long press)", setup: func(r *rand.Rand, s *State) episode {
			c := pick(r, s.Contacts)
			n := len(s.Contacts)
			return episode{
				goal: fmt.Sprintf("Delete the contact %s.", c.Name),
				check: func(st State, _ string) bool {
					return len(st.Contacts) == n-1 && !slices.ContainsFunc(st.Contacts, func(x Contact) bool { return x.Name == c.Name })
				},
				plan: []step{open("Contacts"), longOn(idSel("contact-", c.ID)), tapOn("#menu-Delete")},
			}
		}},
		{id: "contacts-edit-phone", desc: "change a contact's phone number", setup: func(r *rand.Rand, s *State) episode {
			c := pick(r, s.Contacts)
			ph := phoneNumber(r)
			return episode{
				goal: fmt.Sprintf("Change %s's phone number to %s.", c.Name, ph),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Contacts, func(x Contact) bool { return x.ID == c.ID && x.Name == c.Name && digits(x.Phone) == digits(ph) })
				},
				plan: []step{open("Contacts"), tapOn(idSel("contact-", c.ID)), tapOn(`.bar [data-act=cedit]`), tapOn("#clear-phone"), typeInto("#f-phone", ph), tapOn(`.bar [data-act=csave]`)},
			}
		}},
		{id: "contacts-answer-phone", desc: "look up a contact's phone number and answer it", answer: true, setup: func(r *rand.Rand, s *State) episode {
			c := pick(r, s.Contacts)
			return episode{
				goal:  fmt.Sprintf("What is %s's phone number? Answer with the number.", c.Name),
				check: func(_ State, ans string) bool { return digits(ans) == digits(c.Phone) },
				plan:  []step{open("Contacts"), tapOn(idSel("contact-", c.ID)), answerWith(c.Phone)},
			}
		}},
		{id: "clock-add-alarm", desc: "set a new alarm", setup: func(r *rand.Rand, s *State) episode {
			h, m := 5+r.IntN(5), 15*r.IntN(4)+r.IntN(3)
			for slices.ContainsFunc(s.Alarms, func(a Alarm) bool { return a.H == h && a.M == m }) {
				m = (m + 1) % 60
			}
			return episode{
				goal: fmt.Sprintf("Set an alarm for %s.", hhmm(h, m)),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Alarms, func(a Alarm) bool { return a.H == h && a.M == m && a.On })
				},
				plan: []step{open("Clock"), tapOn(`[aria-label="Add alarm"]`), typeInto("#f-hour", strconv.Itoa(h)), typeInto("#f-minute", strconv.Itoa(m)), tapOn(`.bar [data-act=asave]`)},
			}
		}},
		{id: "clock-disable-alarm", desc: "switch an alarm off", setup: func(r *rand.Rand, s *State) episode {
			i := r.IntN(len(s.Alarms))
			s.Alarms[i].On = true
			a := s.Alarms[i]
			return episode{
				goal: fmt.Sprintf("Turn off the %s alarm.", hhmm(a.H, a.M)),
				check: func(st State, _ string) bool {
					return len(st.Alarms) == 3 && slices.ContainsFunc(st.Alarms, func(x Alarm) bool { return x.ID == a.ID && !x.On })
				},
				plan: []step{open("Clock"), tapOn(idSel("alarm-", a.ID))},
			}
		}},
		{id: "clock-delete-alarm", desc: "delete an alarm (long press)", setup: func(r *rand.Rand, s *State) episode {
			a := pick(r, s.Alarms)
			return episode{
				goal: fmt.Sprintf("Delete the %s alarm.", hhmm(a.H, a.M)),
				check: func(st State, _ string) bool {
					return len(st.Alarms) == 2 && !slices.ContainsFunc(st.Alarms, func(x Alarm) bool { return x.ID == a.ID })
				},
				plan: []step{open("Clock"), longOn(fmt.Sprintf(`[data-long=alarm][data-arg="%d"]`, a.ID)), tapOn("#menu-Delete")},
			}
		}},
		{id: "notes-create", desc: "write a new note", setup: func(r *rand.Rand, s *State) episode {
			title := pick(r, []string{"Shopping", "Ideas", "Reminders", "Quotes", "Plans"}) + " " + strconv.Itoa(1+r.IntN(9))
			body := pick(r, words) + " " + pick(r, words) + " " + pick(r, words)
			return episode{
				goal: fmt.Sprintf("Create a note titled %q with the text %q.", title, body),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Notes, func(n Note) bool { return n.Title == title && strings.TrimSpace(n.Body) == body })
				},
				plan: []step{open("Notes"), tapOn(`[aria-label="New note"]`), typeInto("#f-title", title), typeInto("#f-body", body), tapOn(`.bar [data-act=nsave]`)},
			}
		}},
		{id: "notes-delete", desc: "delete a note (with confirmation)", setup: func(r *rand.Rand, s *State) episode {
			n := pick(r, s.Notes)
			return episode{
				goal: fmt.Sprintf("Delete the note titled %q.", n.Title),
				check: func(st State, _ string) bool {
					return len(st.Notes) == 3 && !slices.ContainsFunc(st.Notes, func(x Note) bool { return x.ID == n.ID })
				},
				plan: []step{open("Notes"), tapOn(idSel("note-", n.ID)), tapOn(`[aria-label="Delete note"]`), tapOn("#menu-Delete")},
			}
		}},
		{id: "calendar-add-event", desc: "create a calendar event on a date (this or next month)", setup: func(r *rand.Rand, s *State) episode {
			mo, day := 3, 1+r.IntN(28)
			nextMonth := r.IntN(2) == 0
			if nextMonth {
				mo = 4
			}
			date := fmt.Sprintf("2026-%02d-%02d", mo, day)
			title := pick(r, eventNames) + " " + pick(r, []string{"A", "B", "C", "D"})
			plan := []step{open("Calendar")}
			if nextMonth {
				plan = append(plan, swipeDir("left"))
			}
			plan = append(plan, tapOn(idSel("day-", day)), tapOn(`[aria-label="New event"]`), typeInto("#f-etitle", title), tapOn(`.bar [data-act=esave]`))
			return episode{
				goal: fmt.Sprintf("Create a calendar event %q on %s %d, 2026.", title, monthNames[mo-1], day),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Events, func(e Event) bool { return e.Date == date && e.Title == title })
				},
				plan: plan,
			}
		}},
		{id: "settings-toggle", desc: "switch a setting on or off", setup: func(r *rand.Rand, s *State) episode {
			keys := []struct{ key, label string }{{"wifi", "Wi-Fi"}, {"bluetooth", "Bluetooth"}, {"airplane", "Airplane mode"}, {"dark", "Dark theme"}, {"location", "Location"}}
			k := pick(r, keys)
			get := func(st Settings) bool {
				return map[string]bool{"wifi": st.WiFi, "bluetooth": st.Bluetooth, "airplane": st.Airplane, "dark": st.Dark, "location": st.Location}[k.key]
			}
			want := !get(s.Settings)
			word := map[bool]string{true: "on", false: "off"}[want]
			return episode{
				goal:  fmt.Sprintf("Turn %s %s.", k.label, word),
				check: func(st State, _ string) bool { return get(st.Settings) == want },
				plan:  []step{open("Settings"), tapOn("#set-" + k.key)},
			}
		}},
		{id: "settings-ringtone", desc: "choose a ringtone from a long list", setup: func(r *rand.Rand, s *State) episode {
			target := pick(r, ringtones[6:])
			return episode{
				goal:  fmt.Sprintf("Change the ringtone to %s.", target),
				check: func(st State, _ string) bool { return st.Settings.Ringtone == target },
				plan:  []step{open("Settings"), tapOn("#set-sound"), tapOn("#ring-" + target)},
			}
		}},
		{id: "expenses-add", desc: "log an expense with a category", setup: func(r *rand.Rand, s *State) episode {
			amt := float64(100+r.IntN(9900)) / 100
			cat := pick(r, categories)
			n := len(s.Expenses)
			return episode{
				goal: fmt.Sprintf("Log an expense of $%.2f in the %s category.", amt, cat),
				check: func(st State, _ string) bool {
					return len(st.Expenses) == n+1 && slices.ContainsFunc(st.Expenses, func(e Expense) bool { return math.Abs(e.Amount-amt) < 0.005 && e.Category == cat })
				},
				plan: []step{open("Expenses"), tapOn(`[aria-label="Add expense"]`), typeInto("#f-amount", fmt.Sprintf("%.2f", amt)), tapOn("#cat-" + cat), tapOn(`.bar [data-act=xsave]`)},
			}
		}},
		{id: "expenses-answer-total", desc: "add up the expenses of a category and answer", answer: true, setup: func(r *rand.Rand, s *State) episode {
			cat := pick(r, s.Expenses).Category
			var sum float64
			for _, e := range s.Expenses {
				if e.Category == cat {
					sum += e.Amount
				}
			}
			return episode{
				goal: fmt.Sprintf("How much was spent on %s in total? Answer with the amount.", cat),
				check: func(_ State, ans string) bool {
					v, err := strconv.ParseFloat(strings.TrimSpace(strings.NewReplacer("$", "", ",", "").Replace(ans)), 64)
					return err == nil && math.Abs(v-sum) < 0.005
				},
				plan: []step{open("Expenses"), answerWith(fmt.Sprintf("%.2f", sum))},
			}
		}},
		{id: "expenses-delete", desc: "delete an expense (long press)", setup: func(r *rand.Rand, s *State) episode {
			e := pick(r, s.Expenses)
			n := len(s.Expenses)
			return episode{
				goal: fmt.Sprintf("Delete the $%.2f %s expense.", e.Amount, e.Category),
				check: func(st State, _ string) bool {
					return len(st.Expenses) == n-1 && !slices.ContainsFunc(st.Expenses, func(x Expense) bool { return x.ID == e.ID })
				},
				plan: []step{open("Expenses"), longOn(idSel("exp-", e.ID)), tapOn("#menu-Delete")},
			}
		}},
		// ---- more tasks over the same apps
		{id: "contacts-add-email", desc: "add a contact with a name, phone number and email", setup: func(r *rand.Rand, s *State) episode {
			name, ph := newName(r, s), phoneNumber(r)
			mail := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@" + pick(r, []string{"mail.com", "work.org", "example.net"})
			n := len(s.Contacts)
			return episode{
				goal: fmt.Sprintf("Add a contact named %s with phone number %s and email %s.", name, ph, mail),
				check: func(st State, _ string) bool {
					return len(st.Contacts) == n+1 && slices.ContainsFunc(st.Contacts, func(c Contact) bool {
						return c.Name == name && digits(c.Phone) == digits(ph) && strings.EqualFold(c.Email, mail)
					})
				},
				plan: []step{open("Contacts"), tapOn(`[aria-label="Add contact"]`), typeInto("#f-name", name), typeInto("#f-phone", ph), typeInto("#f-email", mail), tapOn(`.bar [data-act=csave]`)},
			}
		}},
		{id: "contacts-edit-email", desc: "change a contact's email", setup: func(r *rand.Rand, s *State) episode {
			c := pick(r, s.Contacts)
			mail := pick(r, words) + strconv.Itoa(10+r.IntN(90)) + "@example.org"
			return episode{
				goal: fmt.Sprintf("Change %s's email to %s.", c.Name, mail),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Contacts, func(x Contact) bool {
						return x.ID == c.ID && x.Name == c.Name && x.Phone == c.Phone && strings.EqualFold(x.Email, mail)
					})
				},
				plan: []step{open("Contacts"), tapOn(idSel("contact-", c.ID)), tapOn(`.bar [data-act=cedit]`), tapOn("#clear-email"), typeInto("#f-email", mail), tapOn(`.bar [data-act=csave]`)},
			}
		}},
		{id: "contacts-rename", desc: "rename a contact, keeping the number", setup: func(r *rand.Rand, s *State) episode {
			c := pick(r, s.Contacts)
			name := newName(r, s)
			n := len(s.Contacts)
			return episode{
				goal: fmt.Sprintf("Rename the contact %s to %s.", c.Name, name),
				check: func(st State, _ string) bool {
					return len(st.Contacts) == n && slices.ContainsFunc(st.Contacts, func(x Contact) bool { return x.ID == c.ID && x.Name == name && x.Phone == c.Phone })
				},
				plan: []step{open("Contacts"), tapOn(idSel("contact-", c.ID)), tapOn(`.bar [data-act=cedit]`), tapOn("#clear-name"), typeInto("#f-name", name), tapOn(`.bar [data-act=csave]`)},
			}
		}},
		{id: "contacts-answer-email", desc: "look up a contact's email and answer it", answer: true, setup: func(r *rand.Rand, s *State) episode {
			c := pick(r, s.Contacts)
			return episode{
				goal:  fmt.Sprintf("What is %s's email address? Answer with the address.", c.Name),
				check: func(_ State, ans string) bool { return strings.EqualFold(strings.TrimSpace(ans), c.Email) },
				plan:  []step{open("Contacts"), tapOn(idSel("contact-", c.ID)), answerWith(c.Email)},
			}
		}},
		{id: "clock-enable-alarm", desc: "switch an alarm on", setup: func(r *rand.Rand, s *State) episode {
			i := r.IntN(len(s.Alarms))
			s.Alarms[i].On = false
			a := s.Alarms[i]
			return episode{
				goal: fmt.Sprintf("Turn on the %s alarm.", hhmm(a.H, a.M)),
				check: func(st State, _ string) bool {
					return len(st.Alarms) == 3 && slices.ContainsFunc(st.Alarms, func(x Alarm) bool { return x.ID == a.ID && x.On })
				},
				plan: []step{open("Clock"), tapOn(idSel("alarm-", a.ID))},
			}
		}},
		{id: "clock-add-labeled-alarm", desc: "set a new alarm with a label", setup: func(r *rand.Rand, s *State) episode {
			h, m := 10+r.IntN(12), 5*r.IntN(12)
			label := pick(r, []string{"Medicine", "Call Ana", "Laundry", "Pick up kids", "Standup"})
			return episode{
				goal: fmt.Sprintf("Set an alarm for %s labelled %q.", hhmm(h, m), label),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Alarms, func(a Alarm) bool { return a.H == h && a.M == m && a.On && a.Label == label })
				},
				plan: []step{open("Clock"), tapOn(`[aria-label="Add alarm"]`), typeInto("#f-hour", strconv.Itoa(h)), typeInto("#f-minute", strconv.Itoa(m)), typeInto("#f-label", label), tapOn(`.bar [data-act=asave]`)},
			}
		}},
		{id: "clock-answer-earliest", desc: "find the earliest alarm and answer its time", answer: true, setup: func(r *rand.Rand, s *State) episode {
			first := slices.MinFunc(s.Alarms, func(a, b Alarm) int { return (a.H*60 + a.M) - (b.H*60 + b.M) })
			want := strings.TrimLeft(digits(hhmm(first.H, first.M)), "0")
			return episode{
				goal:  "What time is the earliest alarm set for? Answer as HH:MM.",
				check: func(_ State, ans string) bool { return strings.TrimLeft(digits(ans), "0") == want },
				plan:  []step{open("Clock"), answerWith(hhmm(first.H, first.M))},
			}
		}},
		{id: "notes-edit-body", desc: "replace the text of a note", setup: func(r *rand.Rand, s *State) episode {
			n := pick(r, s.Notes)
			body := pick(r, words) + " " + pick(r, words) + " " + strconv.Itoa(r.IntN(100))
			return episode{
				goal: fmt.Sprintf("Change the text of the note %q to %q.", n.Title, body),
				check: func(st State, _ string) bool {
					return len(st.Notes) == 4 && slices.ContainsFunc(st.Notes, func(x Note) bool { return x.ID == n.ID && x.Title == n.Title && strings.TrimSpace(x.Body) == body })
				},
				plan: []step{open("Notes"), tapOn(idSel("note-", n.ID)), tapOn("#clear-body"), typeInto("#f-body", body), tapOn(`.bar [data-act=nsave]`)},
			}
		}},
		{id: "notes-rename", desc: "change the title of a note", setup: func(r *rand.Rand, s *State) episode {
			n := pick(r, s.Notes)
			title := n.Title + " " + strconv.Itoa(2020+r.IntN(10))
			return episode{
				goal: fmt.Sprintf("Rename the note %q to %q, keeping its text.", n.Title, title),
				check: func(st State, _ string) bool {
					return len(st.Notes) == 4 && slices.ContainsFunc(st.Notes, func(x Note) bool { return x.ID == n.ID && x.Title == title && x.Body == n.Body })
				},
				plan: []step{open("Notes"), tapOn(idSel("note-", n.ID)), tapOn("#clear-title"), typeInto("#f-title", title), tapOn(`.bar [data-act=nsave]`)},
			}
		}},
		{id: "notes-answer", desc: "read a note and answer its text", answer: true, setup: func(r *rand.Rand, s *State) episode {
			n := pick(r, s.Notes)
			return episode{
				goal: fmt.Sprintf("What does the note titled %q say? Answer with its text.", n.Title),
				check: func(_ State, ans string) bool {
					return strings.EqualFold(strings.Join(strings.Fields(ans), " "), n.Body)
				},
				plan: []step{open("Notes"), tapOn(idSel("note-", n.ID)), answerWith(n.Body)},
			}
		}},
		{id: "calendar-add-timed-event", desc: "create a calendar event with a time", setup: func(r *rand.Rand, s *State) episode {
			day := 1 + r.IntN(28)
			date := fmt.Sprintf("2026-03-%02d", day)
			title := pick(r, eventNames)
			at := fmt.Sprintf("%02d:%02d", 8+r.IntN(12), 15*r.IntN(4))
			n := len(s.Events)
			return episode{
				goal: fmt.Sprintf("Create a calendar event %q on March %d, 2026 at %s.", title, day, at),
				check: func(st State, _ string) bool {
					return slices.ContainsFunc(st.Events, func(e Event) bool {
						return e.Date == date && e.Title == title && strings.TrimSpace(e.Time) == at
					}) && len(st.Events) == n+1
				},
				plan: []step{open("Calendar"), tapOn(idSel("day-", day)), tapOn(`[aria-label="New event"]`), typeInto("#f-etitle", title), typeInto("#f-etime", at), tapOn(`.bar [data-act=esave]`)},
			}
		}},
		{id: "calendar-answer-event", desc: "look up the event on a day and answer its title", answer: true, setup: func(r *rand.Rand, s *State) episode {
			i := r.IntN(len(s.Events))
			e := s.Events[i]
			for j := range s.Events {
				if j != i && s.Events[j].Date == e.Date {
					d := 1 + (atoiDay(e.Date)+3+j)%28
					s.Events[j].Date = fmt.Sprintf("2026-03-%02d", d)
				}
			}
			day := atoiDay(e.Date)
			return episode{
				goal:  fmt.Sprintf("What is in the calendar on March %d, 2026? Answer with the event's title.", day),
				check: func(_ State, ans string) bool { return strings.EqualFold(strings.TrimSpace(ans), e.Title) },
				plan:  []step{open("Calendar"), tapOn(idSel("day-", day)), answerWith(e.Title)},
			}
		}},
		{id: "settings-two-toggles", desc: "switch one setting on and another off", setup: func(r *rand.Rand, s *State) episode {
			keys := slices.Clone(settingKeys)
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			on, off := keys[0], keys[1]
			setSetting(&s.Settings, on.key, false)
			setSetting(&s.Settings, off.key, true)
			return episode{
				goal: fmt.Sprintf("Turn %s on and %s off.", on.label, off.label),
				check: func(st State, _ string) bool {
					return getSetting(st.Settings, on.key) && !getSetting(st.Settings, off.key)
				},
				plan: []step{open("Settings"), tapOn("#set-" + on.key), tapOn("#set-" + off.key)},
			}
		}},
		{id: "expenses-add-note", desc: "log an expense with a category and a note", setup: func(r *rand.Rand, s *State) episode {
			amt := float64(100+r.IntN(9900)) / 100
			cat := pick(r, categories)
			note := pick(r, []string{"coffee", "bus pass", "gym", "book", "flowers", "parking"})
			n := len(s.Expenses)
			return episode{
				goal: fmt.Sprintf("Log an expense of $%.2f in the %s category with the note %q.", amt, cat, note),
				check: func(st State, _ string) bool {
					return len(st.Expenses) == n+1 && slices.ContainsFunc(st.Expenses, func(e Expense) bool {
						return math.Abs(e.Amount-amt) < 0.005 && e.Category == cat && strings.EqualFold(strings.TrimSpace(e.Note), note)
					})
				},
				plan: []step{open("Expenses"), tapOn(`[aria-label="Add expense"]`), typeInto("#f-amount", fmt.Sprintf("%.2f", amt)), tapOn("#cat-" + cat), typeInto("#f-note", note), tapOn(`.bar [data-act=xsave]`)},
			}
		}},
		{id: "expenses-answer-count", desc: "count the expenses of a category and answer", answer: true, setup: func(r *rand.Rand, s *State) episode {
			cat := pick(r, s.Expenses).Category
			n := 0
			for _, e := range s.Expenses {
				if e.Category == cat {
					n++
				}
			}
			return episode{
				goal:  fmt.Sprintf("How many expenses are in the %s category? Answer with the number.", cat),
				check: func(_ State, ans string) bool { return strings.TrimSpace(ans) == strconv.Itoa(n) },
				plan:  []step{open("Expenses"), answerWith(strconv.Itoa(n))},
			}
		}},
	}
}

var settingKeys = []struct{ key, label string }{{"wifi", "Wi-Fi"}, {"bluetooth", "Bluetooth"}, {"airplane", "Airplane mode"}, {"dark", "Dark theme"}, {"location", "Location"}}

func settingPtr(st *Settings, key string) *bool {
	return map[string]*bool{"wifi": &st.WiFi, "bluetooth": &st.Bluetooth, "airplane": &st.Airplane, "dark": &st.Dark, "location": &st.Location}[key]
}

func getSetting(st Settings, key string) bool { return *settingPtr(&st, key) }

func setSetting(st *Settings, key string, v bool) { *settingPtr(st, key) = v }

// atoiDay is the day of a YYYY-MM-DD date.
func atoiDay(date string) int {
	d, _ := strconv.Atoi(date[len(date)-2:])
	return d
}
