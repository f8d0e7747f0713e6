package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/metrics"
	"github.com/rtgate/rtgate/internal/usage"
)

func TestCallMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewCalls(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Usage(calls.KindRealtime, "gpt-realtime-2", usage.Usage{InputAudioTokens: 100, CachedAudioTokens: 40, OutputAudioTokens: 200, Responses: 1})
	m.Usage(calls.KindRealtime, "gpt-realtime-2", usage.Usage{OutputTextTokens: 5, Responses: 1})
	m.Usage(calls.KindLive, "gpt-live-1", usage.Usage{LiveMillis: 1500})
	m.PolicyEvent(calls.KindRealtime, "session_changed", "reverted")
	m.SidebandOpen(calls.KindLive, 1)
	m.CallEnded(calls.KindLive, calls.ReasonIdle, 90*time.Second)
	want := `
# HELP rtgate_call_live_seconds_total GPT-Live voice time of proxied sessions, by kind and model.
# TYPE rtgate_call_live_seconds_total counter
rtgate_call_live_seconds_total{kind="live",model="gpt-live-1"} 1.5
# HELP rtgate_call_responses_total Responses of proxied calls, by kind and model.
# TYPE rtgate_call_responses_total counter
rtgate_call_responses_total{kind="realtime",model="gpt-realtime-2"} 2
# HELP rtgate_call_usage_tokens_total Tokens used by proxied calls, by kind, model and type (input_text, input_audio, input_image, cached_text, cached_audio, cached_image, output_text, output_audio); input counts include their cached part.
# TYPE rtgate_call_usage_tokens_total counter
rtgate_call_usage_tokens_total{kind="realtime",model="gpt-realtime-2",type="cached_audio"} 40
rtgate_call_usage_tokens_total{kind="realtime",model="gpt-realtime-2",type="input_audio"} 100
rtgate_call_usage_tokens_total{kind="realtime",model="gpt-realtime-2",type="output_audio"} 200
rtgate_call_usage_tokens_total{kind="realtime",model="gpt-realtime-2",type="output_text"} 5
# HELP rtgate_calls_ended_total Proxied calls ended, by kind and reason.
# TYPE rtgate_calls_ended_total counter
rtgate_calls_ended_total{kind="live",reason="idle_timeout"} 1
rtgate_calls_ended_total{kind="live",reason="sideband_lost"} 0
rtgate_calls_ended_total{kind="realtime",reason="sideband_lost"} 0
# HELP rtgate_sidebands_open Sidebands open on this instance, by call kind.
# TYPE rtgate_sidebands_open gauge
rtgate_sidebands_open{kind="live"} 1
rtgate_sidebands_open{kind="realtime"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rtgate_call_live_seconds_total", "rtgate_call_responses_total",
		"rtgate_call_usage_tokens_total", "rtgate_calls_ended_total", "rtgate_sidebands_open"); err != nil {
		t.Fatal(err)
	}
}
