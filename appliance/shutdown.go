package appliance

import "errors"

// ErrShutdownAbandoned means Close's deadline passed before every shutdown
// step finished: the step running then, and those after it, were left to
// finish in the background (or not at all, once the process exits).
var ErrShutdownAbandoned = errors.New("shutdown abandoned")

// The shutdown steps, in the order Close runs them (a node alone stops its
// API before draining). A step that never finishes, such as a Raft
// shutdown waiting on peers that stopped answering, must not keep the
// process from exiting: Close gives up at its deadline and logs the steps
// it abandoned.
const (
	stepTasks int32 = iota
	stepLeave
	stepDrain
	stepHandOver
	stepAPI
	stepRaft
	stepStore
)

var stepNames = [...]string{
	stepTasks:    "stop background tasks",
	stepLeave:    "leave the cluster",
	stepDrain:    "drain deliveries",
	stepHandOver: "hand leadership over",
	stepAPI:      "stop the API",
	stepRaft:     "shut Raft down",
	stepStore:    "close the state store",
}

func (a *Appliance) setStep(s int32) { a.step.Store(s) }

// stepsLeft names the step running now and the ones still to come: what a
// shutdown abandoned at this moment leaves undone. The Raft log is synced,
// so what is left is what a crash would leave: a restart replays the log.
func (a *Appliance) stepsLeft() []string {
	cur := a.step.Load()
	left := []string{stepNames[cur]}
	for s := max(cur+1, stepAPI); s <= stepStore; s++ {
		left = append(left, stepNames[s])
	}
	return left
}

// ShutdownDone is closed once every shutdown step has finished, which,
// after Close gave up at its deadline, may be later or never.
func (a *Appliance) ShutdownDone() <-chan struct{} { return a.shutdownDone }
