package gateway

import (
	"testing"

	"github.com/rtgate/rtgate/internal/budget"
)

// BenchmarkMintPipelineBudgets is BenchmarkMintPipeline with the budgets
// rtgate runs with by default (a memory store, no limit, no token worst
// case): admitted, nothing charged.
func BenchmarkMintPipelineBudgets(b *testing.B) {
	bud, err := budget.New(budget.Options{Store: budget.NewMemory(), Limits: budget.Unlimited})
	if err != nil {
		b.Fatal(err)
	}
	benchMintPipeline(b, newBenchGateway(b, func(o *Options) { o.Budgets = bud }))
}
