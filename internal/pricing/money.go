package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Micros is an amount of money in micro-dollars (10⁻⁶ USD). Every price,
// cost and stored sum in rtgate is a whole number of them: no floating
// point touches money.
type Micros int64

// Money constants.
const (
	// Dollar is one US dollar.
	Dollar Micros = 1_000_000
	// Cent is one US cent.
	Cent Micros = 10_000
	// MaxUSD bounds every amount ParseUSD accepts: a billion dollars,
	// far beyond any budget and far inside both int64 and the 2⁵³ that
	// Redis's Lua numbers hold exactly.
	MaxUSD Micros = 1_000_000_000 * Dollar
)

// ParseUSD reads a non-negative decimal dollar amount exactly ("12",
// "0.40", "0.000001"): digits, at most one point, at most six decimals, no
// sign, exponent or spaces, at most MaxUSD.
func ParseUSD(s string) (Micros, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && (!dot || frac == "") {
		return 0, fmt.Errorf("%q is not a dollar amount", s)
	}
	if dot && frac == "" {
		return 0, fmt.Errorf("%q is not a dollar amount", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimals (rtgate counts micro-dollars)", s)
	}
	if !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a dollar amount (digits and one point only)", s)
	}
	if len(strings.TrimLeft(whole, "0")) > 10 {
		return 0, fmt.Errorf("%q is more than %s", s, MaxUSD)
	}
	var w int64
	if whole != "" {
		w, _ = strconv.ParseInt(whole, 10, 64)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	m := Micros(w)*Dollar + Micros(f)
	if m > MaxUSD {
		return 0, fmt.Errorf("%q is more than %s", s, MaxUSD)
	}
	return m, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats m as dollars with at least two decimals and no trailing
// zeros beyond them: "12.50", "0.000833", "-1.25".
func (m Micros) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", v%int64(Dollar)), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + strconv.FormatInt(v/int64(Dollar), 10) + "." + frac
}

// USD is m as an exact JSON number of dollars (json.Number, so it is
// written as the decimal text, never through a float).
func (m Micros) USD() json.Number { return json.Number(m.String()) }

// UnmarshalJSON reads a dollar amount written as a JSON number or string
// ("4.00" or 4.00) exactly, with ParseUSD's rules.
func (m *Micros) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return errors.New("a dollar amount is required, not null")
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	v, err := ParseUSD(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalJSON writes m as an exact JSON number of dollars.
func (m Micros) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
