package calls_test

import (
	"testing"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/calls/callstest"
)

func TestMemoryContract(t *testing.T) {
	callstest.Run(t, func(t *testing.T) (calls.Store, calls.Store) {
		m := calls.NewMemory()
		return m, m
	})
}
