package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// SecretFileVars are the secrets that may also be given as NAME_FILE: the
// path of a file holding the value (a Docker or Kubernetes secret, a
// systemd credential under $CREDENTIALS_DIRECTORY), so the value is in no
// environment listing. The file is read once, at start-up; restart to
// rotate. (OPENAI_API_KEY_FILE and OPENAI_API_KEY_BACKUP_FILE are read in
// upstream.go instead: those files are watched and re-read without a
// restart.)
var SecretFileVars = []string{
	"AUTH_JWT_SECRET",
	"ADMIN_TOKEN",
	"RECORD_HASH_SECRET",
	"SAFETY_ID_SECRET",
	"IP_HASH_SECRET",
	"REDIS_URL", // it may hold the Redis password
}

// maxSecretFileBytes bounds a secret file: a key, a token or a URL.
const maxSecretFileBytes = 64 << 10

// secretFiles returns getenv with every NAME in SecretFileVars answered
// from NAME_FILE when that is set. Setting both NAME and NAME_FILE, or a
// NAME_FILE that cannot be read, is an error naming NAME_FILE (never the
// file's content). A file's surrounding white space (its final newline)
// is dropped.
func (p *parser) secretFiles(getenv func(string) string) func(string) string {
	values := map[string]string{}
	for _, name := range SecretFileVars {
		path := strings.TrimSpace(getenv(name + "_FILE"))
		if path == "" {
			continue
		}
		if strings.TrimSpace(getenv(name)) != "" {
			p.fail(name+"_FILE", "cannot be combined with %s (set one)", name)
			continue
		}
		v, err := readSecretFile(path)
		if err != nil {
			p.fail(name+"_FILE", "%v", err)
			continue
		}
		values[name] = v
	}
	if len(values) == 0 {
		return getenv
	}
	return func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		return getenv(name)
	}
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot be read: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot be read: %v", err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("names a file over %d bytes (%q)", maxSecretFileBytes, path)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("names an empty file %q", path)
	}
	return v, nil
}
