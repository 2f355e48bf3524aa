package raft

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// messageBatcher packs message items into CreateMessages commands, as the
// API does, and records the size of every command it builds.
type messageBatcher struct {
	*Batcher[MessageItem]
	mu     sync.Mutex
	builds []int
	// gate, when set, is received from before each build: the test holds
	// the loop there.
	gate chan struct{}
}

// heldUntilQueued waits until the loop holds its first command at the gate
// and every other of total items is queued behind it.
func (mb *messageBatcher) heldUntilQueued(t *testing.T, total int) {
	t.Helper()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		sizes := mb.buildSizes()
		if len(sizes) != 1 {
			return fmt.Errorf("commands built: %v", sizes)
		}
		if q := len(mb.queue); q != total-sizes[0] {
			return fmt.Errorf("%d items queued, %d in the first command", q, sizes[0])
		}
		return nil
	})
}

func newMessageBatcher(n *Node, cfg BatcherConfig, gate chan struct{}) *messageBatcher {
	mb := &messageBatcher{gate: gate}
	mb.Batcher = NewBatcher(n, cfg,
		func(items []MessageItem) Command {
			mb.mu.Lock()
			mb.builds = append(mb.builds, len(items))
			mb.mu.Unlock()
			if mb.gate != nil {
				<-mb.gate
			}
			return &CreateMessages{Items: items}
		},
		func(resp any, n int) []Result {
			rs, _ := resp.([]Result)
			return rs
		},
		func(MessageItem) int { return 100 })
	return mb
}

func (mb *messageBatcher) buildSizes() []int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]int(nil), mb.builds...)
}

// leaderWithApp opens a leading node whose state has app_1 with one
// endpoint.
func leaderWithApp(t *testing.T) (*Node, *storage.Store) {
	t.Helper()
	store := openStateStore(t, "")
	n := openNode(t, nodeConfig(t.TempDir(), "127.0.0.1:0"), store, Hooks{}, true)
	waitLeader(t, n)
	mustApply(t, n, &CreateApp{App: testApp("app_1")})
	mustApply(t, n, &CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_1")})
	return n, store
}

func TestBatcherPacksConcurrentSubmits(t *testing.T) {
	const callers = 200
	n, store := leaderWithApp(t)
	// Half the callers reuse an event id already taken by a message of
	// their own, so each expects a result only it can get.
	var pre []MessageItem
	for i := 0; i < callers; i += 2 {
		pre = append(pre, MessageItem{Message: withEventID(testMessage("app_1", fmt.Sprintf("msg_pre_%03d", i), 1), fmt.Sprintf("evt_%03d", i))})
	}
	mustApply(t, n, &CreateMessages{Items: pre})

	gate := make(chan struct{})
	mb := newMessageBatcher(n, BatcherConfig{MaxItems: 64, MaxBytes: 1 << 20, MaxInFlight: 1, QueueLen: callers}, gate)
	defer mb.Close()

	results := make([]Result, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := MessageItem{Message: withEventID(testMessage("app_1", fmt.Sprintf("msg_%03d", i), 2), fmt.Sprintf("evt_%03d", i))}
			results[i], errs[i] = mb.Submit(context.Background(), item)
		}()
	}
	// Hold the first command until every caller is queued behind it.
	mb.heldUntilQueued(t, callers)
	if w := n.Waiting(); w < 1 || w >= callers {
		t.Errorf("Waiting() = %d with the first command held, want the callers behind it", w)
	}
	close(gate)
	wg.Wait()
	if w := n.Waiting(); w != 0 {
		t.Errorf("Waiting() = %d once every caller is answered, want 0", w)
	}

	for i := range callers {
		var want Result
		if i%2 == 0 {
			want = Result{Err: storage.ErrEventIDTaken, Existing: fmt.Sprintf("msg_pre_%03d", i)}
		} else {
			want = Result{Fanout: 1}
		}
		if errs[i] != nil || !resultEqual(results[i], want) {
			t.Errorf("caller %d: %#v, %v; want %#v", i, results[i], errs[i], want)
		}
	}
	// The first command went out with what was queued when the loop woke;
	// the rest waited for its one slot and fill commands of MaxItems.
	sizes := mb.buildSizes()
	want := []int{sizes[0]}
	for left := callers - sizes[0]; left > 0; left -= 64 {
		want = append(want, min(left, 64))
	}
	if !slices.Equal(sizes, want) {
		t.Fatalf("commands of %v items, want %v", sizes, want)
	}
	readState(t, store, func(r *storage.Reader) error {
		for i := 1; i < callers; i += 2 {
			if _, err := r.Message("app_1", fmt.Sprintf("msg_%03d", i)); err != nil {
				t.Errorf("message %d: %v", i, err)
			}
		}
		return nil
	})
}

func TestBatcherMaxBytes(t *testing.T) {
	n, _ := leaderWithApp(t)
	gate := make(chan struct{})
	// Items count 100 bytes each: a command closes once it reaches 1000.
	mb := newMessageBatcher(n, BatcherConfig{MaxItems: 1000, MaxBytes: 1000, MaxInFlight: 1, QueueLen: 100}, gate)
	defer mb.Close()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := mb.Submit(context.Background(), MessageItem{Message: testMessage("app_1", fmt.Sprintf("msg_%02d", i), 1)}); err != nil {
				t.Errorf("Submit: %v", err)
			}
		}()
	}
	mb.heldUntilQueued(t, 50)
	close(gate)
	wg.Wait()
	sizes := mb.buildSizes()
	want := []int{sizes[0]}
	for left := 50 - sizes[0]; left > 0; left -= 10 {
		want = append(want, min(left, 10))
	}
	if !slices.Equal(sizes, want) {
		t.Fatalf("commands of %v items, want %v", sizes, want)
	}
}

func TestBatcherSubmitAfterClose(t *testing.T) {
	n, _ := leaderWithApp(t)
	mb := newMessageBatcher(n, BatcherConfig{MaxItems: 8, MaxBytes: 1 << 20, MaxInFlight: 2, QueueLen: 16}, nil)
	if _, err := mb.Submit(context.Background(), MessageItem{Message: testMessage("app_1", "msg_0", 1)}); err != nil {
		t.Fatalf("Submit before Close: %v", err)
	}
	mb.Close()
	mb.Close() // twice is harmless
	// The queue has room, so a Submit that could still enqueue must notice
	// the batcher is closed rather than wait forever for an answer.
	for i := range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := mb.Submit(ctx, MessageItem{Message: testMessage("app_1", fmt.Sprintf("msg_%d", i+1), 1)})
		cancel()
		if !errors.Is(err, ErrShutdown) {
			t.Fatalf("Submit %d after Close = %v, want ErrShutdown", i, err)
		}
	}
}

func TestBatcherCloseFailsQueuedItems(t *testing.T) {
	n, _ := leaderWithApp(t)
	gate := make(chan struct{})
	mb := newMessageBatcher(n, BatcherConfig{MaxItems: 1, MaxBytes: 1 << 20, MaxInFlight: 1, QueueLen: 64}, gate)
	const callers = 20
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			_, err := mb.Submit(context.Background(), MessageItem{Message: testMessage("app_1", fmt.Sprintf("msg_%02d", i), 1)})
			errs <- err
		}()
	}
	// The loop holds one item in build; the rest wait in the queue.
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if q := len(mb.queue); q != callers-1 {
			return fmt.Errorf("%d items queued", q)
		}
		return nil
	})
	if w := n.Waiting(); w != callers-1 {
		t.Errorf("Waiting() = %d, want the %d queued", w, callers-1)
	}
	closed := make(chan struct{})
	go func() { mb.Close(); close(closed) }()
	close(gate) // let the held command go
	ok, shut := 0, 0
	for range callers {
		select {
		case err := <-errs:
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrShutdown):
				shut++
			default:
				t.Fatalf("Submit = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("callers still waiting after Close: %d answered", ok+shut)
		}
	}
	<-closed
	if w := n.Waiting(); w != 0 {
		t.Errorf("Waiting() = %d after Close answered everyone, want 0", w)
	}
	// The command being built when Close began completes; what was only
	// queued may or may not have gone out, but everyone has an answer.
	if ok < 1 || ok+shut != callers {
		t.Fatalf("%d succeeded, %d shut down", ok, shut)
	}
}

func TestBatcherContextCanceled(t *testing.T) {
	n, _ := leaderWithApp(t)
	gate := make(chan struct{})
	mb := newMessageBatcher(n, BatcherConfig{MaxItems: 8, MaxBytes: 1 << 20, MaxInFlight: 1, QueueLen: 8}, gate)
	defer func() {
		close(gate)
		mb.Close()
	}()

	t.Run("while waiting for the command", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := mb.Submit(ctx, MessageItem{Message: testMessage("app_1", "msg_1", 1)})
			done <- err
		}()
		// Wait until the loop took the item (it is held in build).
		checkFor(t, 10*time.Second, time.Millisecond, func() error {
			if len(mb.queue) != 0 {
				return errors.New("item still queued")
			}
			return nil
		})
		select {
		case err := <-done:
			t.Fatalf("Submit returned before its command: %v", err)
		default:
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Submit = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Submit did not return after its context was canceled")
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := mb.Submit(ctx, MessageItem{Message: testMessage("app_1", "msg_2", 1)}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Submit = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := mb.Submit(ctx, MessageItem{Message: testMessage("app_1", "msg_3", 1)}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Submit = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestBatcherNotLeader(t *testing.T) {
	store := openStateStore(t, "")
	n := openNode(t, nodeConfig(t.TempDir(), "127.0.0.1:0"), store, Hooks{}, false)
	mb := newMessageBatcher(n, BatcherConfig{MaxItems: 8, MaxBytes: 1 << 20, MaxInFlight: 2, QueueLen: 8}, nil)
	defer mb.Close()
	var wg sync.WaitGroup
	var notLeader atomic.Int32
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := mb.Submit(context.Background(), MessageItem{Message: testMessage("app_1", fmt.Sprintf("msg_%d", i), 1)})
			if errors.Is(err, ErrNotLeader) {
				notLeader.Add(1)
			} else {
				t.Errorf("Submit on a follower = %v, want ErrNotLeader", err)
			}
		}()
	}
	wg.Wait()
	if notLeader.Load() != 10 {
		t.Fatalf("%d of 10 callers got ErrNotLeader", notLeader.Load())
	}
}

func TestBatcherSplitMismatch(t *testing.T) {
	n, _ := leaderWithApp(t)
	// A split that loses results must fail the callers, not hand them
	// someone else's result.
	b := NewBatcher(n, BatcherConfig{MaxItems: 8, MaxBytes: 1 << 20, MaxInFlight: 1, QueueLen: 8},
		func(items []MessageItem) Command { return &CreateMessages{Items: items} },
		func(resp any, n int) []Result { return nil },
		func(MessageItem) int { return 1 })
	defer b.Close()
	if _, err := b.Submit(context.Background(), MessageItem{Message: testMessage("app_1", "msg_1", 1)}); err == nil {
		t.Fatalf("Submit with a short split succeeded")
	}
}

// TestBatcherSubmitRacingClose submits from many goroutines while the
// batcher closes: every Submit returns, with a result or ErrShutdown.
func TestBatcherSubmitRacingClose(t *testing.T) {
	n, _ := leaderWithApp(t)
	for round := range 5 {
		mb := newMessageBatcher(n, BatcherConfig{MaxItems: 4, MaxBytes: 1 << 20, MaxInFlight: 2, QueueLen: 4}, nil)
		var wg sync.WaitGroup
		var stuck atomic.Int32
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := mb.Submit(ctx, MessageItem{Message: testMessage("app_1", fmt.Sprintf("msg_%d_%d_%d", round, g, i), 1)})
					cancel()
					switch {
					case err == nil:
					case errors.Is(err, ErrShutdown):
						return
					case errors.Is(err, context.DeadlineExceeded):
						stuck.Add(1)
						return
					default:
						t.Errorf("Submit = %v", err)
						return
					}
				}
			}()
		}
		checkFor(t, 10*time.Second, time.Millisecond, func() error {
			if len(mb.buildSizes()) < 3 {
				return errors.New("no commands yet")
			}
			return nil
		})
		mb.Close()
		wg.Wait()
		if stuck.Load() != 0 {
			t.Fatalf("round %d: %d Submit calls never answered", round, stuck.Load())
		}
	}
}
