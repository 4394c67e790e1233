package layers

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainPackagesLinkNoFramework lists what each domain package links, through every
// import, and finds none of the parts that belong to the transport or the store.
func TestDomainPackagesLinkNoFramework(t *testing.T) {
	transportAndStore := []string{"github.com/micro/", "google.golang.org/grpc", "gorm.io/", "github.com/jackc/"}
	for _, pkg := range []string{
		"service/user/account",
		"service/greeter/greeting",
		"internal/auth",
		"internal/lockout",
	} {
		t.Run(pkg, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "./"+pkg)
			cmd.Dir = "../.."
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v", pkg, err)
			}
			var linked []string
			for _, dep := range strings.Fields(string(out)) {
				for _, refused := range transportAndStore {
					if strings.HasPrefix(dep, refused) {
						linked = append(linked, dep)
					}
				}
			}
			if len(linked) > 0 {
				t.Errorf("%s links %d packages of the transport or the store, a domain package none: %s",
					pkg, len(linked), strings.Join(linked, " "))
			}
		})
	}
}
