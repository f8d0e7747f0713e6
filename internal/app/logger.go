package app

import (
	"io"
	"log/slog"
	"os"

	"github.com/rtgate/rtgate/internal/config"
)

// NewLoggerFormat returns rtgate's logger on w in format (config.LogJSON,
// config.LogText, or config.LogAuto: text when w is a terminal, JSON
// otherwise).
func NewLoggerFormat(w io.Writer, level slog.Level, format string) *slog.Logger {
	if format == config.LogText || (format == config.LogAuto && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return NewLogger(w, level)
}

// isTerminal reports whether w is a character device (a terminal), the
// test every CLI uses to decide between human and machine output.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// demoURL is where a browser on this machine opens the demo page: the
// public listener's port on localhost, or on HOST when it names one
// address, over https when rtgate serves TLS itself.
func (a *App) demoURL() string {
	origins := config.DevOrigins(a.cfg.Host, a.publicPort(), a.cfg.TLS.Native())
	// DevOrigins lists localhost first, and a specific HOST last, after
	// the three loopback forms.
	if len(origins) > 3 {
		return origins[3] + "/"
	}
	return origins[0] + "/"
}
