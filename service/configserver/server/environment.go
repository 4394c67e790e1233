package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/cipher"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo"
)

// extensions in Spring Boot's order of precedence for one file name.
var extensions = []string{".properties", ".yml", ".yaml"}

// sharedName is the file name every application reads.
const sharedName = "application"

// FileError is a configuration file that cannot be read or parsed.
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("config file %s: %v", e.File, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// environment collects the property sources of applications with profiles at labels, most
// specific first, as Spring Boot ranks them: profile-specific files before the others, a later
// profile before an earlier one, a later application before an earlier one and before the shared
// application file; and, with several labels, the first label's sources before the next's.
func (s *Server) environment(ctx context.Context, applications, profiles, labels []string) (cloudconfig.Environment, error) {
	names := []string{}
	for _, a := range slices.Backward(applications) {
		a = strings.ReplaceAll(a, repo.SlashInLabel, "/") // foo(_)app is foo/app, a file in a folder
		if a != sharedName && !slices.Contains(names, a) {
			names = append(names, a)
		}
	}
	names = append(names, sharedName)
	var files []string
	for _, p := range slices.Backward(profiles) {
		for _, name := range names {
			files = append(files, name+"-"+p)
		}
	}
	files = append(files, names...)

	env := cloudconfig.Environment{Name: strings.ReplaceAll(strings.Join(applications, ","), repo.SlashInLabel, "/"), Profiles: profiles, PropertySources: []cloudconfig.PropertySource{}}
	var shownLabels []string
	for _, label := range labels {
		snap, err := s.repo.Snapshot(label)
		if err != nil {
			return cloudconfig.Environment{}, err
		}
		locations := []repo.Snapshot{snap}
		if snap.Labelled != nil {
			locations = []repo.Snapshot{*snap.Labelled, snap}
		}
		for _, base := range files {
			for _, location := range locations {
				for _, ext := range extensions {
					found, err := s.readSources(ctx, location, base+ext, profiles)
					if err != nil {
						return cloudconfig.Environment{}, err
					}
					env.PropertySources = append(env.PropertySources, found...)
				}
			}
		}
		if label == "" {
			label = snap.Label
		}
		// Spring answers the label as the branch it names: feature(_)foo is feature/foo.
		shownLabels = append(shownLabels, strings.ReplaceAll(label, repo.SlashInLabel, "/"))
		if env.Version == nil && snap.Version != "" {
			env.Version = &snap.Version
			// Spring's git repository answers an empty state (only Vault's has one).
			state := ""
			env.State = &state
		}
	}
	if shown := strings.Join(shownLabels, ","); shown != "" {
		env.Label = &shown
	}
	return env, nil
}

// readSources parses one file into property sources: nothing if it does not exist, else one
// per document that applies (it names no profile, or the active profiles match its profile
// expression, such as `!dev` or `dev & eu`) and holds a key, a later document before an
// earlier one, named as Spring Boot names them: the file, and in a file of several documents
// " (document #N)" with N its place in the file from 0; and before those, the files its
// applying documents import (spring.config.import), a later import before an earlier one, as
// Spring Boot ranks them.
func (s *Server) readSources(ctx context.Context, snap repo.Snapshot, file string, profiles []string) ([]cloudconfig.PropertySource, error) {
	return s.readFile(ctx, snap, file, snap.ReadPath, profiles, 0)
}

// maxImportDepth bounds chains of imports (and cycles).
const maxImportDepth = 5

func (s *Server) readFile(ctx context.Context, snap repo.Snapshot, file string, read func(string) ([]byte, error), profiles []string, depth int) ([]cloudconfig.PropertySource, error) {
	data, err := read(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	name := s.repo.Location() + snap.Prefix + file
	parse := cloudconfig.ParseYAML
	if strings.HasSuffix(file, ".properties") {
		parse = cloudconfig.ParsePropertiesDocuments
	}
	docs, err := parse(data)
	if err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	var activated []cloudconfig.PropertySource
	var imports []string
	for i, doc := range docs {
		applies := len(doc.OnProfiles) == 0 || cloudconfig.ProfilesMatch(doc.OnProfiles, profiles)
		if !applies || doc.Properties.Len() == 0 {
			continue
		}
		imports = append(imports, importsOf(doc.Properties)...)
		src := cloudconfig.PropertySource{Name: name, Source: s.decrypt(ctx, file, doc.Properties)}
		if len(docs) > 1 {
			src.Name = fmt.Sprintf("%s (document #%d)", name, i)
		}
		activated = append([]cloudconfig.PropertySource{src}, activated...)
	}
	var imported []cloudconfig.PropertySource
	for _, target := range slices.Backward(imports) {
		optional := strings.HasPrefix(target, "optional:")
		target = strings.TrimPrefix(target, "optional:")
		if strings.Contains(target, ":") || depth >= maxImportDepth {
			// classpath:, file:, configserver: ... name places outside the repository.
			tracing.Printf(ctx, "config file %s: import %q is not read (only files of the repository are, %d deep)", file, target, maxImportDepth)
			continue
		}
		rel := path.Join(path.Dir(file), target)
		found, err := s.readFile(ctx, snap, rel, snap.ReadPath, profiles, depth+1)
		if err != nil {
			return nil, err
		}
		if found == nil && !optional {
			return nil, &FileError{File: file, Err: fmt.Errorf("imported file %s does not exist", rel)}
		}
		imported = append(imported, found...)
	}
	return append(imported, activated...), nil
}

// importsOf are the files a document imports: spring.config.import, a list or comma-separated.
func importsOf(p cloudconfig.Properties) []string {
	var out []string
	for _, k := range p.Keys() {
		if k == importKey || (strings.HasPrefix(k, importKey+"[") && strings.HasSuffix(k, "]")) {
			v, _ := p.Get(k)
			for _, part := range strings.Split(cloudconfig.FormatValue(v), ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
		}
	}
	return out
}

const importKey = "spring.config.import"

// decrypt replaces `{cipher}…` values by their plain text. A value that cannot be decrypted is
// dropped and reported as `invalid.<key>: <n/a>`, as Spring Cloud Config does, so that a client
// never runs with ciphertext as, say, its password.
func (s *Server) decrypt(ctx context.Context, file string, props cloudconfig.Properties) cloudconfig.Properties {
	var out cloudconfig.Properties
	for _, k := range props.Keys() {
		v, _ := props.Get(k)
		text, ok := v.(string)
		if !ok || !strings.HasPrefix(text, cipher.Prefix) {
			out.Copy(props, k)
			continue
		}
		if s.cipher == nil {
			tracing.Printf(ctx, "config file %s: %s is encrypted but no encryption key is set (ENCRYPT_KEY)", file, k)
			out.Set("invalid."+k, "<n/a>")
			continue
		}
		plain, err := s.cipher.Decrypt(strings.TrimPrefix(text, cipher.Prefix))
		if err != nil {
			tracing.Printf(ctx, "config file %s: cannot decrypt %s: %v", file, k, err)
			out.Set("invalid."+k, "<n/a>")
			continue
		}
		out.Set(k, plain)
		out.SetOrigin(k, props.Origin(k))
	}
	return out
}
