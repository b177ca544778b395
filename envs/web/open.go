package web

import (
	"context"
	"errors"

	"github.com/envgym/envgym/gym"
)

func (s *Suite) shopEpisodes(ctx context.Context, opts gym.ResetOptions) (episode, error) {
	return nil, errors.New("todo")
}

func (s *Suite) openFactory(spec gym.Spec) gym.Factory {
	return s.factory(spec, func(ctx context.Context, opts gym.ResetOptions) (episode, error) { return nil, errors.New("todo") })
}
