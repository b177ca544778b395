package worldmodel

import (
	"strings"
	"testing"

	"github.com/envgym/envgym/gym/trajectory"
)

func TestGrounding(t *testing.T) {
	obs := "Goal: buy a lamp\nURL: /shop/search?q=lamp\n[1] link \"Back\"\n[5] link \"B01448 Aperture Canvas Lightweight Sneakers — $37.51\""
	el, rest, ok := element(obs, `click(5)`)
	if !ok || el != `link "B01448 Aperture Canvas Lightweight Sneakers — $37.51"` || rest != ")" {
		t.Fatalf("element = %q %q %v", el, rest, ok)
	}
	if _, _, ok := element(obs, `click(7)`); ok {
		t.Fatal("click(7) grounded on a missing element")
	}
	if _, _, ok := element(obs, `go north`); ok {
		t.Fatal("go north grounded")
	}
	// The same product clicked at another id is the same pool.
	other := "[2] link \"B01448 Aperture Canvas Lightweight Sneakers — $37.51\""
	if poolKey(obs, "click(5)") != poolKey(other, "click(2)") || poolKey(obs, "click(5)") == poolKey(obs, "click(1)") {
		t.Fatal("pool keys do not follow the element")
	}
	sub := newSubstitution("click(3)", `link "B01308 Fabrikam Leather Lightweight Sneakers — $45.49"`,
		"click(5)", `link "B01273 Wayne Lightweight Sneakers — $124.50"`)
	for in, want := range map[string]string{
		"URL: /shop/item/B01308?page=1&q=lightweight+sneakers": "URL: /shop/item/B01273?page=1&q=lightweight+sneakers",
		`heading "Fabrikam Leather Lightweight Sneakers"`:      `heading "Wayne Lightweight Sneakers"`,
		`text "Price: $45.49"`:                                 `text "Price: $124.50"`,
		`text "Price: $145.49"`:                                `text "Price: $145.49"`, // not a whole word
	} {
		if got := sub.apply(in); got != want {
			t.Errorf("apply(%q) = %q, want %q", in, got, want)
		}
	}
	if got := replaceWords("size 7, $37.51 77 7", "7", "9"); got != "size 9, $37.51 77 9" {
		t.Errorf("replaceWords = %q", got)
	}
}

func TestEpisodeKeys(t *testing.T) {
	var eps, obs []string
	for _, e := range []string{"a", "b", "c"} {
		for p := range 2 {
			eps = append(eps, e)
			obs = append(obs, "Goal: task "+e+"\nTitle: page "+string(rune('0'+p))+"\nFooter: same")
		}
	}
	k := episodeKeys(func(i int) (string, string) { return eps[i], obs[i] }, len(obs))
	if !k["Goal"] || k["Title"] || k["Footer"] || len(k) != 1 {
		t.Fatalf("episode keys = %v, want Goal only", k)
	}
	if got := stripKeys(obs[0], k); got != "Title: page 0\nFooter: same" {
		t.Fatalf("stripKeys = %q", got)
	}
}

func TestFillSubstitution(t *testing.T) {
	sub := newSubstitution(`fill(1, "wool socks")`, `textbox "Search" value=""`, `fill(1, "blue lightweight sneakers")`, `textbox "Search" value=""`)
	if got := sub.apply(`[1] textbox "Search" value="wool socks" focused`); got != `[1] textbox "Search" value="blue lightweight sneakers" focused` {
		t.Fatalf("apply = %q", got)
	}
}

func TestGoalFeatures(t *testing.T) {
	var steps []trajectory.Step
	for _, g := range []string{"blue socks, size 7", "red mug", "black lamp", "white hoodie, size M"} {
		steps = append(steps, trajectory.Step{EpisodeID: g, Obs: "Goal: I want a " + g + "\nTitle: Shop"},
			trajectory.Step{EpisodeID: g, Obs: "Goal: I want a " + g + "\nTitle: Item"})
	}
	b := NewBuffer(steps)
	right := b.goalFeatures("Goal: I want a blue socks, size 7\nTitle: Socks\n[1] link \"color blue\" selected\n[2] link \"size 7\" selected\n[3] link \"size 8\"")
	wrong := b.goalFeatures("Goal: I want a blue socks, size 7\nTitle: Socks\n[1] link \"color blue\"\n[2] link \"size 7\"\n[3] link \"size 8\" selected")
	if right[0] != 1 || right[1] <= wrong[1] || right[2] <= wrong[2] {
		t.Fatalf("goal features: right options %v, wrong %v", right, wrong)
	}
}

func TestPageMemory(t *testing.T) {
	steps := []trajectory.Step{
		{EpisodeID: "a", Obs: "Goal: socks\nURL: /shop/search?q=socks\n[2] link \"B1 Socks\""},
		{EpisodeID: "b", Obs: "Goal: mug\nURL: /shop/search?q=socks\n[2] link \"B1 Socks\""},
		{EpisodeID: "c", Obs: "Goal: lamp\nURL: /shop/search?q=socks\nInvalid action: x\n[2] link \"B1 Socks\""},
		{EpisodeID: "c", Obs: "Goal: lamp\nURL: /shop/"},
	}
	b := NewBuffer(steps)
	s, ok := b.pages["URL: /shop/search?q=socks"]
	if !ok || strings.Contains(s.Obs, "Invalid") {
		t.Fatalf("page memory %v %q: want the page seen most", ok, s.Obs)
	}
	got := withLines(s.Obs, "Goal: hoodie\nURL: /shop/item/B9", map[string]bool{"Goal": true})
	if got != "Goal: hoodie\nURL: /shop/search?q=socks\n[2] link \"B1 Socks\"" {
		t.Fatalf("withLines = %q", got)
	}
}
