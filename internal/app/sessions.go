package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// newSessions puts the validated session configuration (environment and
// SESSION_CONFIG_FILE) in force and, with a file, reloads it on SIGHUP: a
// file that no longer validates is logged and counted, and the previous
// configuration stays in force. The key ring listens to the same signal.
func (a *App) newSessions() (*sessioncfg.Sessions, error) {
	initial := a.cfg.Session
	if initial == nil { // a Config built by hand rather than by config.Load
		var err error
		if initial, err = sessioncfg.Load(a.cfg.SessionConfigFile, a.cfg.SessionEnv()); err != nil {
			return nil, err
		}
	}
	s, err := sessioncfg.New(initial, sessioncfg.Options{Logger: a.log.With("component", "sessions"), Registerer: a.registry})
	if err != nil {
		return nil, err
	}
	if initial.File() != "" {
		// Installed now, like the key ring's: a SIGHUP sent once New has
		// returned is never fatal.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		a.closers = append(a.closers, func() { signal.Stop(hup) })
		a.background = append(a.background, func(ctx context.Context) { s.Watch(ctx, hup) })
	}
	return s, nil
}
