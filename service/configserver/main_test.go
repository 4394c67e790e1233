package main

import "testing"

func TestValidateRefusesAnOpenDecryptor(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		key, password           string
		allowInsecure, accepted bool
	}{
		{"no key", "", "", false, true},
		{"key and password", "k", "p", false, true},
		{"key without password", "k", "", false, false},
		{"key without password, insecure allowed", "k", "", true, true},
	} {
		var c Config
		c.Encrypt.Key, c.Security.User.Password, c.AllowInsecure = tc.key, tc.password, tc.allowInsecure
		if err := c.Validate(); (err == nil) != tc.accepted {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
