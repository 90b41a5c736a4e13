package replica

import (
	"sync"
	"testing"
	"time"
)

func TestNotifierWakesEveryWaiter(t *testing.T) {
	var n notifier
	const waiters = 50
	var ready, woke sync.WaitGroup
	ready.Add(waiters)
	woke.Add(waiters)
	for range waiters {
		go func() {
			ch := n.wait()
			ready.Done()
			<-ch
			woke.Done()
		}()
	}
	ready.Wait()
	n.notify()
	done := make(chan struct{})
	go func() { woke.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("not every waiter woke")
	}
}

func TestNotifierChannelTakenBeforeNotifyIsClosed(t *testing.T) {
	var n notifier
	ch := n.wait()
	n.notify()
	select {
	case <-ch:
	default:
		t.Fatal("a channel taken before notify is still open")
	}
	// A new wait gets a fresh, open channel.
	select {
	case <-n.wait():
		t.Fatal("a channel taken after notify is already closed")
	default:
	}
	// notify with no waiters is harmless.
	var m notifier
	m.notify()
	m.notify()
}
