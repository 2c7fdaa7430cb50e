package torture

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// deployer plays the teams whose pipelines deploy while rotor rotates: it
// starts executions at random (the world's Build stages take a while, so
// they stay in progress) and answers the manual approvals they wait at
// after a random hold, through the CodePipeline API as CI and people do.
// It talks to the emulator directly, not through the proxy that records
// rotor's traffic, and never reads a pipeline's executions through the API
// (pending approvals come from the emulator's Go API), so that the
// emulator's update record shows when rotor last looked.
type deployer struct {
	h      *Harness
	client *cp.Client
	every  time.Duration // how often one pipeline starts an execution

	mu     sync.Mutex
	paused bool
	holds  map[string]time.Time // approval token → when to answer it

	started, approved, rejected, failed atomic.Int64

	stop chan struct{}
	done chan struct{}
}

// startDeployer starts executions every every, somewhere, until closed.
func (h *Harness) startDeployer(every time.Duration) *deployer {
	d := &deployer{h: h, every: every, holds: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{}),
		client: cp.New(cp.Options{
			BaseEndpoint: aws.String(h.sb.CodePipelineURL), Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("deployer", "deployer", ""),
			Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3 }),
		})}
	go d.loop()
	return d
}

func (d *deployer) loop() {
	defer close(d.done)
	tick := time.NewTicker(d.every)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		d.mu.Lock()
		paused := d.paused
		d.mu.Unlock()
		if !paused {
			d.deploy()
		}
		d.answer(false)
	}
}

// deploy starts an execution of a random pipeline.
func (d *deployer) deploy() {
	names := d.h.sb.CodePipeline.PipelineNames()
	if len(names) == 0 {
		return
	}
	name := names[d.h.intn(len(names))]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: &name}); err != nil {
		d.failed.Add(1) // an injected fault: the next tick tries another
		return
	}
	d.started.Add(1)
}

// answer approves (now and then rejects) the approvals whose hold is over,
// or every one when all is set.
func (d *deployer) answer(all bool) {
	now := time.Now()
	for _, pa := range d.h.sb.CodePipeline.PendingApprovals() {
		d.mu.Lock()
		at, ok := d.holds[pa.Token]
		if !ok {
			at = now.Add(d.h.between(200*time.Millisecond, 1500*time.Millisecond))
			d.holds[pa.Token] = at
		}
		d.mu.Unlock()
		if !all && now.Before(at) {
			continue
		}
		status := cptypes.ApprovalStatusApproved
		if !all && d.h.chance(0.1) {
			status = cptypes.ApprovalStatusRejected
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := d.client.PutApprovalResult(ctx, &cp.PutApprovalResultInput{PipelineName: &pa.Pipeline, StageName: &pa.Stage, ActionName: &pa.Action,
			Token: &pa.Token, Result: &cptypes.ApprovalResult{Status: status, Summary: aws.String("torture deployer")}})
		cancel()
		switch {
		case err != nil:
			d.failed.Add(1)
			continue // the next tick tries again
		case status == cptypes.ApprovalStatusRejected:
			d.rejected.Add(1)
		default:
			d.approved.Add(1)
		}
		d.mu.Lock()
		delete(d.holds, pa.Token)
		d.mu.Unlock()
	}
}

// pause stops new deployments, approves what waits and returns once no
// pipeline runs anything (or after a minute: a check then reports it).
func (d *deployer) pause() {
	d.mu.Lock()
	d.paused = true
	d.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		d.answer(true)
		busy := false
		for _, n := range d.h.sb.CodePipeline.PipelineNames() {
			if d.h.sb.CodePipeline.Busy(n) {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.h.note("deployer: pipelines still busy a minute after deployments paused")
}

func (d *deployer) resume() {
	d.mu.Lock()
	d.paused = false
	d.mu.Unlock()
}

func (d *deployer) close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
}
