package httpx

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Bounds of the refused-origin hint: a burst of originHintBurst lines, then
// one per originHintEvery. A flood of foreign origins costs a few lines a
// minute; the lines left out are counted in the next one.
const (
	originHintBurst = 5
	originHintEvery = 10 * time.Second
	// maxLoggedOrigin bounds the refused Origin as logged (it is client
	// input): longer values are cut and marked.
	maxLoggedOrigin = 200
)

// originHint logs, sampled, why a browser's request was refused at the
// origin gate and how to allow it: the one message a developer whose page
// runs on another port needs (ALLOWED_ORIGINS).
type originHint struct {
	log     *slog.Logger
	allowed string // the allowed origins, as logged
	now     func() time.Time

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

func newOriginHint(log *slog.Logger, origins []string) *originHint {
	return &originHint{log: log, allowed: strings.Join(origins, ","), now: time.Now, tokens: originHintBurst}
}

// take reports whether a line may be logged now and how many were left
// out since the last one.
func (h *originHint) take() (bool, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.last.IsZero() {
		h.tokens = min(originHintBurst, h.tokens+float64(now.Sub(h.last))/float64(originHintEvery))
	}
	h.last = now
	if h.tokens < 1 {
		h.suppressed++
		return false, 0
	}
	h.tokens--
	n := h.suppressed
	h.suppressed = 0
	return true, n
}

// refused logs the refusal of r from origin, if the sampler allows.
func (h *originHint) refused(r *http.Request, origin string) {
	if h == nil || h.log == nil {
		return
	}
	ok, suppressed := h.take()
	if !ok {
		return
	}
	if len(origin) > maxLoggedOrigin {
		origin = origin[:maxLoggedOrigin] + "…"
	}
	attrs := []slog.Attr{
		slog.String("request_id", RequestID(r.Context())),
		slog.String("origin", origin),
		slog.String("allowed_origins", h.allowed),
		slog.String("hint", "if this is your own page, add its origin to ALLOWED_ORIGINS (comma-separated, exact scheme://host:port)"),
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("similar_lines_suppressed", suppressed))
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "origin refused: not in ALLOWED_ORIGINS", attrs...)
}
