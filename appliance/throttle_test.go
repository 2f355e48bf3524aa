package appliance_test

import (
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"
)

// TestEndpointThrottleRate: an endpoint with throttleRate r gets at most r
// deliveries a second (plus a burst of r), however many are due, and every
// message still arrives. The check only bounds how many arrive within any
// one second, which a slow machine cannot break.
func TestEndpointThrottleRate(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	const r, total = 5, 20
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{ThrottleRate: ptr(uint16(r))})
	// A second endpoint of the same app without a rate is not held back.
	free := newReceiver(t)
	if _, err := n.sdk.Endpoint.Create(ctx(t), f.app.Id, models.EndpointIn{Url: free.URL("/free")}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		f.send(t, "job.done", map[string]any{"n": i})
	}
	got := rc.waitFor(t, total)
	if free.waitFor(t, total); free.count() != total {
		t.Errorf("the endpoint without a rate got %d", free.count())
	}
	for i := range got {
		in := 0
		for j := i; j < len(got) && got[j].At.Sub(got[i].At) < time.Second; j++ {
			in++
		}
		if in > 2*r {
			t.Fatalf("%d deliveries within one second from delivery %d; throttleRate %d allows at most %d", in, i, r, 2*r)
		}
	}
	if span := got[len(got)-1].At.Sub(got[0].At); span < time.Duration(total-2*r)*time.Second/r {
		t.Errorf("%d deliveries in %v at throttleRate %d", total, span, r)
	}
}
