package openai

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecodeMintResponse reads the documented answer: scanMintResponse
// against json.Valid alone and json.Unmarshal.
func BenchmarkDecodeMintResponse(b *testing.B) {
	raw := []byte(documentedMint)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeMintResponse(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("valid", func(b *testing.B) {
		for b.Loop() {
			json.Valid(raw)
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var mr mintResponse
			if err := json.Unmarshal(raw, &mr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
