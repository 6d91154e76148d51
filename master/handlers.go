package master

import (
	"context"

	"github.com/jobd/jobd/rpc"
)

// handlers serves the requests of PROTOCOL.md's jobd-master table. Their
// arguments are validated by rpc's typed shapes, with the same messages as
// jobd's.
func (m *Master) handlers() *rpc.Mux {
	mux := rpc.NewMux()
	mux.Handle(rpc.ReqRegisterWorker, m.handleRegister)
	mux.Handle(rpc.ReqPoke, m.handlePoke)
	mux.Handle(rpc.ReqPause, m.handlePause)
	mux.Handle(rpc.ReqContinue, m.handleContinue)
	mux.Handle(rpc.ReqStatus, m.handleStatus)
	mux.Handle(rpc.ReqRunManual, m.handleRunManual)
	mux.Handle(rpc.ReqSendSignal, m.handleSendSignal)
	return mux
}

func (m *Master) handleRegister(_ context.Context, c *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.RegisterWorkerArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	w, replaced, remembered, err := m.reg.register(c, args.Name, args.Targets)
	if err != nil {
		return nil, err
	}
	if replaced {
		m.log.Info("worker re-registered", "worker", w.String(), "targets", w.targets)
	} else {
		m.log.Info("worker registered", "worker", w.String(), "targets", w.targets, "workers", m.reg.len())
	}
	if len(remembered) > 0 {
		m.log.Info("polling a new worker for pokes no worker could take before", "worker", w.String(), "targets", remembered)
		m.sendPoll(w, remembered)
	}
	return rpc.OK, nil
}

func (m *Master) handlePoke(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.PokeArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	m.poker.poke(args.Targets)
	return rpc.OK, nil
}

func (m *Master) handlePause(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	return m.handlePauseContinue(ctx, rpc.ReqPause, req)
}

func (m *Master) handleContinue(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	return m.handlePauseContinue(ctx, rpc.ReqContinue, req)
}

func (m *Master) handlePauseContinue(ctx context.Context, typ string, req *rpc.Request) (any, error) {
	var args rpc.TargetsArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	if err := m.pauseContinue(ctx, typ, args.Targets); err != nil {
		return nil, err
	}
	return rpc.OK, nil
}

func (m *Master) handleStatus(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.MasterStatusArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	return m.status(ctx, args.PollWorkers), nil
}

func (m *Master) handleRunManual(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.MasterRunManualArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	return m.runManual(ctx, args.Jobs), nil
}

func (m *Master) handleSendSignal(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.MasterSendSignalArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	return m.sendSignal(ctx, args.Jobs), nil
}
