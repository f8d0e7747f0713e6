package envfile

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want map[string]string
	}{
		{"plain", "A=1\nB=two", map[string]string{"A": "1", "B": "two"}},
		{"comments and blank lines", "# c\n\n  # indented\n; systemd\nA=1\n", map[string]string{"A": "1"}},
		{"spaces inside an unquoted value", "REALTIME_INSTRUCTIONS=Be brief and kind.  \n", map[string]string{"REALTIME_INSTRUCTIONS": "Be brief and kind."}},
		{"spaces around =", "A = 1\n", map[string]string{"A": "1"}},
		{"export", "export A=1\nexport\tB='x y'\n", map[string]string{"A": "1", "B": "x y"}},
		{"a variable called export", "export=1\n", map[string]string{"export": "1"}},
		{"inline comment after white space", "A=1 # one\nB=x#y\n", map[string]string{"A": "1", "B": "x#y"}},
		{"single quotes are literal", `A='$HOME \n "x" #no'`, map[string]string{"A": `$HOME \n "x" #no`}},
		{"double-quote escapes", `A="say \"hi\" \\ \$HOME \` + "`" + ` a\tb\nc"`, map[string]string{"A": "say \"hi\" \\ $HOME ` a\tb\nc"}},
		{"unknown escapes keep the backslash", `A="C:\path\x"`, map[string]string{"A": `C:\path\x`}},
		{"a value ending in an escaped backslash", `A="ends with \\"`, map[string]string{"A": `ends with \`}},
		{"dollar is never expanded", "B=1\nA=pa$$word$B\nC=\"$B\"", map[string]string{"A": "pa$$word$B", "B": "1", "C": "$B"}},
		{"quoted value with a comment after", `A="x y" # c`, map[string]string{"A": "x y"}},
		{"multi-line quoted value", "A=\"-----BEGIN-----\nabc\n-----END-----\"\nB=2", map[string]string{"A": "-----BEGIN-----\nabc\n-----END-----", "B": "2"}},
		{"empty values", "A=\nB=''\nC=\"\"\nD= # c", map[string]string{"A": "", "B": "", "C": "", "D": ""}},
		{"CRLF line ends", "A=1\r\nB=\"2\"\r\n", map[string]string{"A": "1", "B": "2"}},
		{"the last assignment wins", "A=1\nA=2", map[string]string{"A": "2"}},
		{"an = inside the value", "REDIS_URL=redis://h:6379/0?dial_timeout=3s&a=b", map[string]string{"REDIS_URL": "redis://h:6379/0?dial_timeout=3s&a=b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseString(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestParseErrorsNameTheLineNotTheValue(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"no =", "A=1\nSECRET sk-proj-abcdef", "line 2: expected = after SECRET"},
		{"bad name", "1A=x", "line 1: expected a variable name"},
		{"unclosed double quote", "A=1\nKEY=\"sk-proj-abcdef\nB=2", "line 2: KEY: the double quote is never closed"},
		{"unclosed single quote", "KEY='sk-proj-abcdef", "line 1: KEY: the single quote is never closed"},
		{"text after the closing quote", `KEY="sk-proj" abcdef`, "line 1: KEY: unexpected text after the value"},
		{"NUL", "KEY=a\x00b", "a NUL byte"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseString(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "sk-proj") || strings.Contains(err.Error(), "abcdef") {
				t.Errorf("the error shows the value: %v", err)
			}
		})
	}
}

// FuzzRoundTrip: any value written with Quote reads back unchanged, beside
// other assignments and comments, and Parse never panics on any input.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "x", `say "hi"`, `ends \`, "a\nb", "$HOME", "# not a comment", " padded ", "tab\tx", "é ü 🙂", `\\"`, "'"} {
		f.Add(s, "A=1\n# c\n")
	}
	f.Fuzz(func(t *testing.T, value, other string) {
		_, _ = ParseString(other) // must not panic
		if strings.IndexByte(value, 0) >= 0 {
			return
		}
		src := "# header\nexport BEFORE=1\nVALUE=" + Quote(value) + " # trailing comment\nAFTER='2'\n"
		got, err := ParseString(src)
		if err != nil {
			t.Fatalf("Quote(%q) does not parse: %v\n%s", value, err, src)
		}
		if got["VALUE"] != value || got["BEFORE"] != "1" || got["AFTER"] != "2" || len(got) != 3 {
			t.Fatalf("round trip of %q: %q", value, got)
		}
		if !strings.ContainsAny(value, "'\r") {
			got, err := ParseString("V='" + value + "'")
			if err != nil || got["V"] != value {
				t.Fatalf("single-quoted %q: %q %v", value, got, err)
			}
		}
	})
}
