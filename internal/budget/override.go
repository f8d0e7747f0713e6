package budget

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rtgate/rtgate/internal/pricing"
)

// unlimited is how a lifted limit is written in an override.
const unlimited = `"unlimited"`

// USDLimit is a money limit in an override: a dollar amount (a JSON number
// or string, at most six decimals, read exactly) or "unlimited".
type USDLimit struct{ v pricing.Micros }

// UnmarshalJSON implements json.Unmarshaler.
func (l *USDLimit) UnmarshalJSON(b []byte) error {
	if string(b) == unlimited {
		l.v = NoLimit
		return nil
	}
	return l.v.UnmarshalJSON(b)
}

// MarshalJSON implements json.Marshaler.
func (l USDLimit) MarshalJSON() ([]byte, error) {
	if l.v < 0 {
		return []byte(unlimited), nil
	}
	return l.v.MarshalJSON()
}

// MinutesLimit is a call-time limit in an override: whole minutes (a JSON
// number, 0 to 44,640, a month) or "unlimited".
type MinutesLimit struct{ v time.Duration }

// maxMinutes bounds a minutes limit: 31 days.
const maxMinutes = 31 * 24 * 60

// UnmarshalJSON implements json.Unmarshaler.
func (l *MinutesLimit) UnmarshalJSON(b []byte) error {
	if string(b) == unlimited {
		l.v = NoLimit
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 || n > maxMinutes {
		return fmt.Errorf("minutes must be a whole number from 0 to %d or \"unlimited\", got %s", maxMinutes, b)
	}
	l.v = time.Duration(n) * time.Minute
	return nil
}

// MarshalJSON implements json.Marshaler; a limit that is not whole minutes
// is written with its fraction.
func (l MinutesLimit) MarshalJSON() ([]byte, error) {
	if l.v < 0 {
		return []byte(unlimited), nil
	}
	return []byte(strconv.FormatFloat(l.v.Minutes(), 'f', -1, 64)), nil
}

// OverrideRequest is a per-user override as the operator API reads and
// writes it: a member that is absent (or null) keeps the default, a value
// replaces it, "unlimited" lifts it, and 0 allows nothing.
type OverrideRequest struct {
	DailyUSD     *USDLimit     `json:"daily_usd,omitempty"`
	MonthlyUSD   *USDLimit     `json:"monthly_usd,omitempty"`
	DailyMinutes *MinutesLimit `json:"daily_minutes,omitempty"`
}

// ParseOverride reads an OverrideRequest strictly: one JSON object, no
// unknown members, nothing after it.
func ParseOverride(b []byte) (Override, error) {
	var r OverrideRequest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Override{}, err
	}
	if _, err := d.Token(); err != io.EOF {
		return Override{}, errors.New("data after the JSON object")
	}
	return r.Override(), nil
}

// Override is r as a store's Override.
func (r OverrideRequest) Override() Override {
	var o Override
	if r.DailyUSD != nil {
		o.UserDaily = ptr(r.DailyUSD.v)
	}
	if r.MonthlyUSD != nil {
		o.UserMonthly = ptr(r.MonthlyUSD.v)
	}
	if r.DailyMinutes != nil {
		o.UserDailyTime = ptr(r.DailyMinutes.v)
	}
	return o
}

func requestOf(o Override) OverrideRequest {
	var r OverrideRequest
	if o.UserDaily != nil {
		r.DailyUSD = &USDLimit{*o.UserDaily}
	}
	if o.UserMonthly != nil {
		r.MonthlyUSD = &USDLimit{*o.UserMonthly}
	}
	if o.UserDailyTime != nil {
		r.DailyMinutes = &MinutesLimit{*o.UserDailyTime}
	}
	return r
}
