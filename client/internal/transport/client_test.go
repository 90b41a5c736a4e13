package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"strand.dev/client/wire"
)

func serve(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestErrorsAreTyped(t *testing.T) {
	c := New(Config{})
	defer c.Close()
	ctx := context.Background()

	envelope := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, status := wire.MarshalError(wire.Errorf(wire.CodeNotLeaderOrFollower, "node 2 leads"))
		w.WriteHeader(status)
		w.Write(body)
	})
	_, err := c.Metadata(ctx, envelope)
	if !errors.Is(err, wire.ErrNotLeaderOrFollower) || !Retriable(err) {
		t.Fatalf("envelope: %v", err)
	}

	fatal := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, status := wire.MarshalError(wire.Errorf(wire.CodeMessageTooLarge, "too big"))
		w.WriteHeader(status)
		w.Write(body)
	})
	if _, err = c.Metadata(ctx, fatal); !errors.Is(err, wire.ErrMessageTooLarge) || Retriable(err) {
		t.Fatalf("non-retriable: %v", err)
	}

	html := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway</html>"))
	})
	_, err = c.Metadata(ctx, html)
	var ne *NodeError
	if !errors.As(err, &ne) || !ne.Garbage || !Retriable(err) {
		t.Fatalf("garbage error answer: %v", err)
	}

	notJSON := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	if _, err = c.Metadata(ctx, notJSON); !errors.As(err, &ne) || !ne.Garbage {
		t.Fatalf("garbage answer: %v", err)
	}

	noHW := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write(nil) })
	if _, err = c.Fetch(ctx, noHW, FetchRequest{Topic: "t"}); !errors.As(err, &ne) || !ne.Garbage {
		t.Fatalf("fetch without high watermark: %v", err)
	}
}

func TestContextEndIsVisible(t *testing.T) {
	c := New(Config{})
	defer c.Close()
	block := make(chan struct{})
	defer close(block)
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Metadata(ctx, slow)
	if !errors.Is(err, context.DeadlineExceeded) || !IsContextErr(err) {
		t.Fatalf("want a deadline error, got %v", err)
	}
}

func TestFetchHeaders(t *testing.T) {
	c := New(Config{})
	defer c.Close()
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get(wire.ParamOffset) != "42" || q.Get(wire.ParamMaxWaitMs) != "250" || q.Get(wire.ParamTopic) != "t" {
			http.Error(w, "bad query "+r.URL.RawQuery, 400)
			return
		}
		w.Header().Set(wire.HeaderHighWatermark, "100")
		w.Header().Set(wire.HeaderLogStartOffset, "7")
		w.Header().Set(wire.HeaderLeaderEpoch, "3")
		w.Write([]byte{1, 2, 3})
	})
	fr, err := c.Fetch(context.Background(), addr, FetchRequest{Topic: "t", Partition: 1, Offset: 42, MaxWait: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if fr.HighWatermark != 100 || fr.LogStartOffset != 7 || fr.LeaderEpoch != 3 || fr.LogEndOffset != -1 || len(fr.Body) != 3 {
		t.Fatalf("%+v", fr)
	}
}
