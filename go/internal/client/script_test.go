package client

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/report"
)

// fakeKV answers from a map; fail, when set, decides a call's error first.
type fakeKV struct {
	store map[string][]byte
	fail  func(ctx context.Context, op, key string) error
	calls []string
}

func (f *fakeKV) Get(ctx context.Context, in *kvproto.GetRequest, _ ...grpc.CallOption) (*kvproto.GetResponse, error) {
	f.calls = append(f.calls, "get "+in.Key)
	if f.fail != nil {
		if err := f.fail(ctx, "get", in.Key); err != nil {
			return nil, err
		}
	}
	v, ok := f.store[in.Key]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "key not found: %q", in.Key)
	}
	return &kvproto.GetResponse{Value: v}, nil
}

func (f *fakeKV) Put(ctx context.Context, in *kvproto.PutRequest, _ ...grpc.CallOption) (*kvproto.Empty, error) {
	f.calls = append(f.calls, "put "+in.Key)
	if f.fail != nil {
		if err := f.fail(ctx, "put", in.Key); err != nil {
			return nil, err
		}
	}
	if f.store == nil {
		f.store = map[string][]byte{}
	}
	f.store[in.Key] = in.Value
	return &kvproto.Empty{}, nil
}

// runScript runs --script s against kv in process, with a run deadline far away.
func runScript(t *testing.T, s string, kv kvproto.KVClient) *report.Report {
	t.Helper()
	spec, err := ParseScript(s)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(&Options{Script: spec, Timeout: time.Minute}, time.Now(), nil, io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.script(ctx, kv)
	return r.finish()
}

func stepNames(rep *report.Report) string {
	var n []string
	for _, s := range rep.Steps {
		n = append(n, s.Step)
	}
	return strings.Join(n, " ")
}

// get-deadline carries its own 2 s deadline; it passing is the step's
// failure (stage rpc), not the run's timeout.
func TestGetDeadlineIsTheStepsOwn(t *testing.T) {
	var left time.Duration
	kv := &fakeKV{fail: func(ctx context.Context, op, _ string) error {
		if op == "put" { // put-ascii, before the pause
			return nil
		}
		d, ok := ctx.Deadline()
		if !ok {
			t.Error("get-deadline sent no deadline")
			return nil
		}
		left = time.Until(d)
		return status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	}}
	rep := runScript(t, "get", kv)
	if left <= 0 || left > GetDeadline {
		t.Errorf("deadline %s away, want at most %s", left, GetDeadline)
	}
	if stepNames(rep) != "put-ascii get-deadline" || !rep.Steps[0].OK || rep.Steps[1].OK || rep.Steps[1].Status != "DEADLINE_EXCEEDED" {
		t.Fatalf("steps %+v", rep.Steps)
	}
	if rep.Error == nil || rep.Error.Stage != report.StageRPC ||
		rep.Error.Message != "get-deadline: DEADLINE_EXCEEDED: context deadline exceeded" {
		t.Errorf("error %+v", rep.Error)
	}

	// OK and NOT_FOUND both count as an answer.
	for _, store := range []map[string][]byte{nil, {"ascii": []byte("hello, soup")}} {
		rep := runScript(t, "get", &fakeKV{store: store})
		if !rep.OK || rep.Error != nil || len(rep.Steps) != 2 || rep.Steps[1].Key != "ascii" {
			t.Errorf("store %v: %+v", store, rep)
		}
	}
}

func TestPutStreamStopsAtTheFirstFailure(t *testing.T) {
	for _, code := range []codes.Code{codes.ResourceExhausted, codes.Unavailable} {
		kv := &fakeKV{fail: func(_ context.Context, _, key string) error {
			if key == "stream-2" {
				return status.Error(code, "full")
			}
			return nil
		}}
		rep := runScript(t, "put-stream:5", kv)
		if stepNames(rep) != "put-stream-0 put-stream-1 put-stream-2" || strings.Join(kv.calls, ",") != "put stream-0,put stream-1,put stream-2" {
			t.Errorf("%v: steps %q, calls %v", code, stepNames(rep), kv.calls)
		}
		if rep.OK || !rep.Steps[1].OK || rep.Steps[2].OK || rep.Steps[2].Status != StatusName(code) || *rep.Steps[2].ValueLen != 1024 {
			t.Errorf("%v: %+v", code, rep.Steps)
		}
		if rep.Error == nil {
			t.Errorf("%v: no error", code)
		}
	}
}

func TestGetStreamRunsEveryStepAndChecksValues(t *testing.T) {
	kv := &fakeKV{store: map[string][]byte{"stream-0": Stream(0), "stream-1": Stream(7), "stream-3": Stream(3)}}
	rep := runScript(t, "get-stream:4", kv)
	if stepNames(rep) != "get-stream-0 get-stream-1 get-stream-2 get-stream-3" {
		t.Fatalf("steps %q", stepNames(rep))
	}
	var oks []bool
	for _, s := range rep.Steps {
		oks = append(oks, s.OK)
	}
	if rep.OK || oks[0] != true || oks[1] || oks[2] || oks[3] != true || rep.Steps[2].Status != "NOT_FOUND" {
		t.Errorf("ok %v, steps %+v", oks, rep.Steps)
	}
	if rep.Error == nil || !strings.HasPrefix(rep.Error.Message, "get-stream-1: OK: value mismatch") {
		t.Errorf("error %+v", rep.Error)
	}
}
