package reqctx_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/rtgate/rtgate/internal/reqctx"
)

func TestValuesTravelInTheContext(t *testing.T) {
	ctx := context.Background()
	if reqctx.From(ctx) != nil || reqctx.RequestID(ctx) != "" || reqctx.ClientIP(ctx).IsValid() {
		t.Fatal("an empty context carries values")
	}
	v := &reqctx.Values{RequestID: "req-1"}
	ctx = reqctx.With(ctx, v)
	// The edge fills values in after the context was made; readers see them.
	v.ClientIP = netip.MustParseAddr("198.51.100.7")
	if reqctx.RequestID(ctx) != "req-1" || reqctx.ClientIP(ctx) != v.ClientIP || reqctx.From(ctx) != v {
		t.Fatalf("got %q %v", reqctx.RequestID(ctx), reqctx.ClientIP(ctx))
	}
}
