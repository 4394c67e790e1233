package breaker

import (
	"fmt"
	"net/http"

	merrors "github.com/micro/go-micro/v2/errors"
)

// StatusShedding marks the answer of a service that is up and refuses a call at once to stay
// within its capacity (a full bcrypt pool, say). Breakers do not count it: the dependency is
// healthy and answering fast, and counting its refusals would turn a flood that it sheds
// partially into an open circuit that refuses everyone.
const StatusShedding = "Shedding Load"

// Shedding is the error a service answers when it sheds a call: 503, marked StatusShedding.
// Clients see 503 with Retry-After.
func Shedding(service, format string, a ...any) error {
	return &merrors.Error{Id: service, Code: http.StatusServiceUnavailable, Detail: fmt.Sprintf(format, a...), Status: StatusShedding}
}
