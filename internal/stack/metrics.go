package stack

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MetricSum adds up every sample of the Prometheus metric at urls (all its label sets), as the
// tests and the benchmark read the binaries' counters.
func MetricSum(client *http.Client, urls []string, metric string) (float64, error) {
	sum := 0.0
	for _, url := range urls {
		rsp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(body), "\n") {
			rest, ok := strings.CutPrefix(line, metric)
			if !ok || !(strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
				continue
			}
			fields := strings.Fields(rest)
			if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
				sum += v
			}
		}
	}
	return sum, nil
}
