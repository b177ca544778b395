package main

import (
	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/plugins"
)

// hostEnvs opens the plugin host and registers every env it serves in
// reg, warning about plugins that cannot be used: the one way commands
// reach plugin envs. The caller closes the host when done with the envs.
func (a *app) hostEnvs(reg *gym.Registry) *plugins.Host {
	h := a.openHost()
	if err := h.Register(reg); err != nil {
		a.warn("%v", err)
	}
	return h
}
