package cloudconfig

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// pairs renders properties as "key=value(type)" lines, in order, for compact comparisons.
func pairs(p Properties) []string {
	var out []string
	for _, k := range p.Keys() {
		v, _ := p.Get(k)
		out = append(out, k+"="+FormatValue(v)+"("+reflect.TypeOf(v).String()+")")
	}
	return out
}

func TestParseYAML(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"nested maps become dotted keys", "greetings:\n  string: hi\n  nested:\n    deep: 1\n",
			[]string{"greetings.string=hi(string)", "greetings.nested.deep=1(int64)"}},
		{"lists get [i] indexes", "routes:\n  - /a\n  - path: /b\n    open: true\n",
			[]string{"routes[0]=/a(string)", "routes[1].path=/b(string)", "routes[1].open=true(bool)"}},
		{"nested lists", "m:\n  - [1, 2]\n", []string{"m[0][0]=1(int64)", "m[0][1]=2(int64)"}},
		{"empty list and null become empty strings", "a: []\nb:\nc: ~\n", []string{"a=(string)", "b=(string)", "c=(string)"}},
		{"YAML 1.1 booleans as SnakeYAML reads them", "a: on\nb: 'on'\nc: No\nd: 1.5\n",
			[]string{"a=true(bool)", "b=on(string)", "c=false(bool)", "d=1.5(float64)"}},
		{"durations and quoted numbers stay strings", "ttl: 10s\nport: \"8080\"\n", []string{"ttl=10s(string)", "port=8080(string)"}},
		{"anchors, aliases and merge keys", "base: &b\n  timeout: 1s\n  retries: 3\nsvc:\n  <<: *b\n  retries: 5\nalias: *b\n",
			[]string{"base.timeout=1s(string)", "base.retries=3(int64)", "svc.retries=5(int64)", "svc.timeout=1s(string)",
				"alias.timeout=1s(string)", "alias.retries=3(int64)"}},
		{"keys with dots stay as written", "a.b: 1\n", []string{"a.b=1(int64)"}},
		{"empty file", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := ParseYAML([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, pairs(d.Properties)...)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseYAMLDocuments(t *testing.T) {
	docs, err := ParseYAML([]byte("a: 1\n---\nspring:\n  config:\n    activate:\n      on-profile: dev, test\na: 2\n---\nspring.profiles: prod\na: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	var profiles [][]string
	for _, d := range docs {
		profiles = append(profiles, d.OnProfiles)
	}
	if !reflect.DeepEqual(profiles, [][]string{nil, {"dev", "test"}, {"prod"}}) {
		t.Fatalf("profiles %q", profiles)
	}
}

func TestParseYAMLErrors(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 8; i++ {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	for _, tc := range []struct{ name, in, want string }{
		{"syntax", "a: [1, 2\n", "did not find expected"},
		{"top level list", "- a\n- b\n", "top level must be a map"},
		{"top level scalar", "just text\n", "top level must be a map"},
		{"tabs", "a:\n\tb: 1\n", "found character that cannot start any token"},
		{"alias bomb", bomb, "more than 100000 values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also a comment\n  a=1\nb : two words  \nc three\nd\\=e=f\\:g\nlong = first \\\n    second\nunicode=caf\\u00e9\\tx\nempty=\na=again\n"
	got, err := parseProperties([]byte(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a=again(string)", "b=two words  (string)", "c=three(string)", "d=e=f:g(string)",
		"long=first second(string)", "unicode=café\tx(string)", "empty=(string)"}
	if !reflect.DeepEqual(pairs(got), want) {
		t.Fatalf("got  %q\nwant %q", pairs(got), want)
	}
	if _, err := parseProperties([]byte("a=\\u12\n"), 0); err == nil {
		t.Fatal("a malformed \\u escape must be an error")
	}
}

func TestEscapePropertyRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "a=b:c", " leading", "#hash", "tab\tnew\nline", `back\slash`, "ünï"} {
		line := EscapeProperty(s, true) + "=" + EscapeProperty(s, false)
		p, err := parseProperties([]byte(line), 0)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := p.Get(s); !ok || v != s {
			t.Fatalf("%q: line %q read back as %q", s, line, pairs(p))
		}
	}
}

func TestResolve(t *testing.T) {
	values := map[string]string{"HOST": "db", "port": "5432", "url": "postgres://${HOST}:${port}", "loop": "${loop}", "a": "${b}", "b": "${a}"}
	lookup := func(k string) (string, bool) { v, ok := values[k]; return v, ok }
	for _, tc := range []struct {
		in, want string
		keep     bool
		err      string
	}{
		{in: "no placeholders", want: "no placeholders"},
		{in: "${HOST}", want: "db"},
		{in: "x-${HOST}-${port}-y", want: "x-db-5432-y"},
		{in: "${url}", want: "postgres://db:5432"},
		{in: "${MISSING:fallback}", want: "fallback"},
		{in: "${MISSING:}", want: ""},
		{in: "${MISSING:${HOST}}", want: "db"},
		{in: "${MISSING:${ALSO_MISSING:deep}}", want: "deep"},
		{in: "${HOST:unused}", want: "db"},
		{in: "${MISSING:a:b}", want: "a:b"},
		{in: `\${HOST} is literal`, want: "${HOST} is literal"},
		{in: "${unclosed", want: "${unclosed"},
		{in: "${MISSING}", err: "could not resolve placeholder 'MISSING'"},
		{in: "keep ${MISSING} as is", keep: true, want: "keep ${MISSING} as is"},
		{in: "${loop}", err: "circular placeholder reference 'loop'"},
		{in: "${a}", err: "circular placeholder reference"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Resolve(tc.in, lookup, tc.keep)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	var unresolvable *UnresolvableError
	if _, err := Resolve("${X}", lookup, false); !errors.As(err, &unresolvable) || unresolvable.Placeholder != "X" {
		t.Fatalf("want *UnresolvableError, got %v", err)
	}
}

func TestNest(t *testing.T) {
	var p Properties
	for _, kv := range [][2]any{{"b.x", "1"}, {"a[1].name", "second"}, {"a[0].name", "first"}, {"b.y", true}, {"c[0][0]", int64(7)}, {"d[2]", "gap"}} {
		p.Set(kv[0].(string), kv[1])
	}
	tree, err := Nest(p)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(tree)
	if want := `{"b":{"x":"1","y":true},"a":[{"name":"first"},{"name":"second"}],"c":[[7]],"d":[null,null,"gap"]}`; string(js) != want {
		t.Fatalf("json %s\nwant %s", js, want)
	}
	y, err := tree.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if want := "b:\n  x: \"1\"\n  y: true\na:\n  - name: first\n  - name: second\nc:\n  - - 7\nd:\n  - null\n  - null\n  - gap\n"; string(y) != want {
		t.Fatalf("yaml:\n%s\nwant:\n%s", y, want)
	}
	if m := tree.Map(); m["b"].(map[string]any)["y"] != true || m["a"].([]any)[1].(map[string]any)["name"] != "second" {
		t.Fatalf("map %v", m)
	}
	// The tree of flattened YAML is the YAML again (Spring reads null as "").
	docs, _ := ParseYAML(y)
	back, _ := Nest(docs[0].Properties)
	if js2, _ := json.Marshal(back); string(js2) != strings.ReplaceAll(string(js), "null", `""`) {
		t.Fatalf("round trip %s", js2)
	}
}

func TestNestConflicts(t *testing.T) {
	for _, keys := range [][]string{{"a", "a.b"}, {"a.b", "a"}, {"a[0]", "a.b"}, {"a.b", "a[0]"}, {"a[99999]"}, {"a..b"}, {"[0]"}} {
		var p Properties
		for _, k := range keys {
			p.Set(k, "v")
		}
		if _, err := Nest(p); err == nil {
			t.Fatalf("%q: want an error", keys)
		}
	}
}

func TestPropertiesJSON(t *testing.T) {
	in := `{"z":"last","a":1,"f":1.5,"t":true,"n":null}`
	var p Properties
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if got := pairs(p); !reflect.DeepEqual(got, []string{"z=last(string)", "a=1(int64)", "f=1.5(float64)", "t=true(bool)", "n=(string)"}) {
		t.Fatalf("%q", got)
	}
	out, _ := json.Marshal(p)
	if string(out) != `{"z":"last","a":1,"f":1.5,"t":true,"n":""}` {
		t.Fatalf("%s", out)
	}
	for _, bad := range []string{`[]`, `{"a":{"b":1}}`, `{"a":[1]}`, `{"a":1`} {
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Fatalf("%s: want an error", bad)
		}
	}
}

// TestMergeTakesListsWhole: the most specific source that has any element of a list gives the
// whole list (Spring Boot's binder); other keys merge one by one.
func TestMergeTakesListsWhole(t *testing.T) {
	source := func(kv ...string) PropertySource {
		var p Properties
		for i := 0; i < len(kv); i += 2 {
			p.Set(kv[i], kv[i+1])
		}
		return PropertySource{Source: p}
	}
	application := source("list[0]", "a", "list[1]", "b", "list[2]", "c", "deep.items[0].name", "x", "deep.items[1].name", "y", "plain", "app")
	greeter := source("list[0]", "g1", "plain", "greeter")
	greeterDev := source("list[0]", "dev1", "list[1]", "dev2", "deep.items[0].name", "z")
	merged := Merge([]PropertySource{greeterDev, greeter, application})
	want := []string{"plain=greeter(string)", "list[0]=dev1(string)", "list[1]=dev2(string)", "deep.items[0].name=z(string)"}
	if got := pairs(merged); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q\nwant %q", got, want)
	}
}

func TestMerge(t *testing.T) {
	var specific, general Properties
	specific.Set("a", "specific")
	general.Set("b", "general")
	general.Set("a", "general")
	merged := Merge([]PropertySource{{Name: "s", Source: specific}, {Name: "g", Source: general}})
	if got := pairs(merged); !reflect.DeepEqual(got, []string{"b=general(string)", "a=specific(string)"}) {
		t.Fatalf("%q", got)
	}
}

// TestYAMLAsSpringReadsIt: a duplicate key is refused (SnakeYAML's "found duplicate key"), and
// infinities and NaN become the strings Jackson writes for them, not an unencodable float.
func TestYAMLAsSpringReadsIt(t *testing.T) {
	if _, err := ParseYAML([]byte("a: 1\nb: 2\na: 3\n")); err == nil || !strings.Contains(err.Error(), `found duplicate key "a"`) {
		t.Fatalf("duplicate key: %v", err)
	}
	if _, err := ParseYAML([]byte("base: &b {x: 1}\nmerged:\n  <<: *b\n  x: 2\n")); err != nil {
		t.Fatalf("a merge key overridden is no duplicate: %v", err)
	}
	docs, err := ParseYAML([]byte("intkeys:\n  1: one\n  '2': two\nlist: []\nmap: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Spring's YamlProcessor: a key that is no string is an index, an empty list is "", an
	// empty map is nothing.
	if got, want := pairs(docs[0].Properties), []string{"intkeys[1]=one(string)", "intkeys.2=two(string)", "list=(string)"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
	docs, err = ParseYAML([]byte("up: .inf\ndown: -.Inf\nnothing: .nan\nplain: 1.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := pairs(docs[0].Properties)
	want := []string{"up=Infinity(float64)", "down=-Infinity(float64)", "nothing=NaN(float64)", "plain=1.5(float64)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
	// They stay numbers, written as Spring writes them: JSON as Jackson's strings, YAML as
	// SnakeYAML's floats.
	if j, err := json.Marshal(docs[0].Properties); err != nil || string(j) != `{"up":"Infinity","down":"-Infinity","nothing":"NaN","plain":1.5}` {
		t.Fatalf("as JSON: %s, %v", j, err)
	}
	tree, err := Nest(docs[0].Properties)
	if err != nil {
		t.Fatal(err)
	}
	if y, err := tree.YAML(); err != nil || string(y) != "up: .inf\ndown: -.inf\nnothing: .NaN\nplain: 1.5\n" {
		t.Fatalf("as YAML: %q, %v", y, err)
	}
}

func TestProfilesMatch(t *testing.T) {
	for _, tc := range []struct {
		expressions []string
		active      []string
		want        bool
	}{
		{[]string{"dev"}, []string{"dev"}, true},
		{[]string{"dev"}, []string{"prod"}, false},
		{[]string{"!dev"}, []string{"prod"}, true},
		{[]string{"!dev"}, []string{"dev"}, false},
		{[]string{"dev | test"}, []string{"test"}, true},
		{[]string{"dev & eu"}, []string{"dev"}, false},
		{[]string{"dev & eu"}, []string{"eu", "dev"}, true},
		{[]string{"(dev & eu) | prod"}, []string{"prod"}, true},
		{[]string{"!(dev | test)"}, []string{"test"}, false},
		{[]string{"dev & eu | prod"}, []string{"prod"}, false}, // & and | mixed: invalid, matches nothing
		{[]string{"dev &"}, []string{"dev"}, false},
		{[]string{"test", "dev"}, []string{"dev"}, true},
	} {
		if got := ProfilesMatch(tc.expressions, tc.active); got != tc.want {
			t.Errorf("%q with %q: %v, want %v", tc.expressions, tc.active, got, tc.want)
		}
	}
}

func TestMultiDocumentProperties(t *testing.T) {
	docs, err := ParsePropertiesDocuments([]byte("client.test=Default\n\n#---\nspring.config.activate.on-profile=development\nclient.test=Development\n!---\nother=1\n"))
	if err != nil || len(docs) != 3 {
		t.Fatalf("%d documents, %v", len(docs), err)
	}
	if v, _ := docs[1].Properties.Get("client.test"); v != "Development" || !reflect.DeepEqual(docs[1].OnProfiles, []string{"development"}) || docs[2].OnProfiles != nil {
		t.Fatalf("%+v", docs)
	}
}
