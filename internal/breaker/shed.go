package breaker

import (
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// StatusShedding marks the answer of a service that is up and refuses a call at once to stay
// within its capacity (a full bcrypt pool, say): the reason OVERLOADED. Breakers do not count
// it: the dependency is healthy and answering fast, and counting its refusals would turn a
// flood that it sheds partially into an open circuit that refuses everyone.
var StatusShedding = apipb.Reason_OVERLOADED.String()
