package main

import (
	"context"
	"errors"
)

// TODO(owner): replace this placeholder with the real subcommand.
func reportCommand() command {
	return command{name: "report", short: "(not yet implemented)", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		return errors.New("report: not implemented yet")
	}}
}
