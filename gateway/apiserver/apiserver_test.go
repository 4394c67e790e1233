package apiserver

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestResolver(t *testing.T) {
	for _, tc := range []struct {
		path, service, method string
	}{
		{"/greeter/hello", "go.micro.api.greeter", "Greeter.Hello"},
		{"/user/login", "go.micro.api.user", "User.Login"},
		{"/greeter//hello/", "go.micro.api.greeter", "Greeter.Hello"},
		{"/user/get-user-info", "go.micro.api.user", "User.GetUserInfo"},
		{"/user", "", ""},
		{"/", "", ""},
		{"/a/b/c", "", ""},
	} {
		ep, err := Resolver{}.Resolve(httptest.NewRequest("POST", tc.path, nil))
		if tc.service == "" {
			if err == nil {
				t.Errorf("%s resolved to %+v", tc.path, ep)
			}
			continue
		}
		if err != nil || ep.Name != tc.service || ep.Method != tc.method {
			t.Errorf("%s: %+v, %v; want %s %s", tc.path, ep, err, tc.service, tc.method)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 8192, MaxConnections: 10}
	if err := ok.Validate(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]func(*Config){
		"write timeout below the call": func(c *Config) { c.WriteTimeout = 5 * time.Second },
		"no header timeout":            func(c *Config) { c.ReadHeaderTimeout = 0 },
		"tiny header limit":            func(c *Config) { c.MaxHeaderBytes = 100 },
		"no connections":               func(c *Config) { c.MaxConnections = 0 },
	} {
		c := ok
		broken(&c)
		if c.Validate(5*time.Second) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
