// Package shop is a WebShop-like store served from memory: a seeded
// catalogue, instructions with attributes, options and a price limit,
// server-rendered pages (search, paged results, product, options, buy) and
// partial-credit scoring of purchases.
package shop

import "net/http"

const (
	DefaultCatalogSeed = 1
	DefaultProducts    = 600
)

type Shop struct{}

func New(seed int64, n int) *Shop { return &Shop{} }

func (s *Shop) Handler() http.Handler { return http.NotFoundHandler() }
