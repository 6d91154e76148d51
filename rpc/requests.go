package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Request types. Requests served by jobd: poll, pause, continue, status,
// run-manual, send-signal, add-target, remove-target, set-target-concurrency.
// By jobd-master: register-worker, poke, pause, continue, status, run-manual,
// send-signal.
const (
	ReqPoll                 = "poll"
	ReqPause                = "pause"
	ReqContinue             = "continue"
	ReqStatus               = "status"
	ReqRunManual            = "run-manual"
	ReqSendSignal           = "send-signal"
	ReqAddTarget            = "add-target"
	ReqRemoveTarget         = "remove-target"
	ReqSetTargetConcurrency = "set-target-concurrency"
	ReqRegisterWorker       = "register-worker"
	ReqPoke                 = "poke"
)

// OK is the answer of every control request.
const OK = "ok"

// MaxSignal is the highest signal number send-signal accepts.
const MaxSignal = 64

// Argument errors, worded for the client. Every check of request arguments
// is here, so jobd, jobd-master and jobctl say the same thing.
const (
	msgDataNotObject  = "data must be an object"
	msgTargetsType    = "targets must be an array of target names"
	msgTargetsEmpty   = "targets must not be empty"
	msgTargetsName    = "targets must not contain an empty name"
	msgTarget         = "target must be a non-empty string"
	msgConcurrency    = "concurrency must be a positive integer"
	msgIDsType        = "ids must be an array of integer job ids"
	msgIDsEmpty       = "ids must not be empty"
	msgJobID          = "job id must be a positive integer"
	msgSignalJobsType = `jobs must be an object mapping job ids to signal numbers, like {"123": 15}`
	msgJobsEmpty      = "jobs must not be empty"
	msgSignal         = "signal must be an integer from 1 to 64"
	msgName           = "name must be a string"
	msgPollWorkers    = "poll_workers must be a boolean"
	msgJobsList       = "jobs must be an array of objects"
)

func argError(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Decode decodes the request's data into v (omitted data counts as {}), then
// runs v's Validate method when it has one. Errors are worded for the client
// and can be returned from a handler as they are.
func (r *Request) Decode(v any) error {
	data := r.Data
	if data == nil {
		data = json.RawMessage("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return errors.New(msgDataNotObject)
			}
			return argError("%s must not be a JSON %s", typeErr.Field, typeErr.Value)
		}
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return argError("data is not valid JSON: %v", err)
		}
		return err
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

// TargetsArgs are the arguments of poll, pause and continue. Nil Targets
// means all targets.
type TargetsArgs struct {
	Targets []string `json:"targets,omitempty"`
}

// UnmarshalJSON decodes strictly: targets, when present and not null, must be
// an array of strings.
func (a *TargetsArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	*a = TargetsArgs{}
	if raw, ok := obj.get("targets"); ok {
		a.Targets, err = decodeStrings(raw, msgTargetsType)
	}
	return err
}

// Validate checks that Targets, when given, is a non-empty list of names.
func (a *TargetsArgs) Validate() error {
	if a.Targets == nil {
		return nil
	}
	return validateTargets(a.Targets)
}

func validateTargets(targets []string) error {
	if len(targets) == 0 {
		return errors.New(msgTargetsEmpty)
	}
	for _, t := range targets {
		if t == "" {
			return errors.New(msgTargetsName)
		}
	}
	return nil
}

// TargetConcurrencyArgs are the arguments of add-target and
// set-target-concurrency.
type TargetConcurrencyArgs struct {
	Target      string `json:"target"`
	Concurrency int    `json:"concurrency"`
}

// UnmarshalJSON decodes strictly: target a string, concurrency an integer.
func (a *TargetConcurrencyArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	*a = TargetConcurrencyArgs{}
	if a.Target, err = obj.str("target", msgTarget); err != nil {
		return err
	}
	raw, _ := obj.get("concurrency")
	n, ok := parseInt(raw)
	if !ok || n != int64(int(n)) {
		return errors.New(msgConcurrency)
	}
	a.Concurrency = int(n)
	return nil
}

// Validate checks for a named target and a positive concurrency.
func (a *TargetConcurrencyArgs) Validate() error {
	if a.Target == "" {
		return errors.New(msgTarget)
	}
	if a.Concurrency <= 0 {
		return errors.New(msgConcurrency)
	}
	return nil
}

// RemoveTargetArgs are the arguments of remove-target.
type RemoveTargetArgs struct {
	Target string `json:"target"`
}

// UnmarshalJSON decodes strictly: target must be a string.
func (a *RemoveTargetArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	a.Target, err = obj.str("target", msgTarget)
	return err
}

// Validate checks for a named target.
func (a *RemoveTargetArgs) Validate() error {
	if a.Target == "" {
		return errors.New(msgTarget)
	}
	return nil
}

// RunManualArgs are the arguments of a worker's run-manual.
type RunManualArgs struct {
	IDs []int64 `json:"ids"`
}

// UnmarshalJSON decodes strictly: every id must be a JSON integer (1.5, "3"
// and null fail the whole request).
func (a *RunManualArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	*a = RunManualArgs{}
	raw, _ := obj.get("ids")
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil || elems == nil {
		return errors.New(msgIDsType)
	}
	a.IDs = make([]int64, len(elems))
	for i, e := range elems {
		id, ok := parseInt(e)
		if !ok {
			return argError("%s, got %s", msgIDsType, quote(e))
		}
		a.IDs[i] = id
	}
	return nil
}

// Validate checks for a non-empty list of positive ids.
func (a *RunManualArgs) Validate() error {
	if len(a.IDs) == 0 {
		return errors.New(msgIDsEmpty)
	}
	for _, id := range a.IDs {
		if err := validateJobID(id); err != nil {
			return err
		}
	}
	return nil
}

func validateJobID(id int64) error {
	if id <= 0 {
		return argError("%s, got %d", msgJobID, id)
	}
	return nil
}

func validateSignal(id int64, sig int) error {
	if sig < 1 || sig > MaxSignal {
		return argError("job %d: %s, got %d", id, msgSignal, sig)
	}
	return nil
}

// SendSignalArgs are the arguments of a worker's send-signal: job id (as a
// decimal string key) to signal number.
type SendSignalArgs struct {
	Jobs map[string]int `json:"jobs"`
}

// UnmarshalJSON decodes strictly: every value must be a JSON integer.
func (a *SendSignalArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	*a = SendSignalArgs{}
	raw, _ := obj.get("jobs")
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return errors.New(msgSignalJobsType)
	}
	a.Jobs = make(map[string]int, len(m))
	for k, v := range m {
		sig, ok := parseInt(v)
		if !ok || sig != int64(int(sig)) {
			return argError("job %s: %s, got %s", k, msgSignal, quote(v))
		}
		a.Jobs[k] = int(sig)
	}
	return nil
}

// Validate checks that every key is a positive job id and every value a
// signal number from 1 to 64.
func (a *SendSignalArgs) Validate() error {
	if len(a.Jobs) == 0 {
		return errors.New(msgJobsEmpty)
	}
	for k, sig := range a.Jobs {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || strconv.FormatInt(id, 10) != k {
			return argError("%s, got %q", msgJobID, k)
		}
		if err := validateJobID(id); err != nil {
			return err
		}
		if err := validateSignal(id, sig); err != nil {
			return err
		}
	}
	return nil
}

// IDs returns the job ids of a, as numbers, after Validate.
func (a *SendSignalArgs) IDs() map[int64]int {
	out := make(map[int64]int, len(a.Jobs))
	for k, sig := range a.Jobs {
		id, _ := strconv.ParseInt(k, 10, 64)
		out[id] = sig
	}
	return out
}

// RegisterWorkerArgs are the arguments of register-worker. Both keys may be
// missing, as the original master allowed: no targets is an empty list, and
// a worker without a name is best shown by its address.
type RegisterWorkerArgs struct {
	Targets []string `json:"targets"`
	Name    string   `json:"name"`
}

// UnmarshalJSON decodes strictly: targets an array of strings, name a
// string, when present.
func (a *RegisterWorkerArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	*a = RegisterWorkerArgs{Targets: []string{}}
	if raw, ok := obj.get("targets"); ok {
		if a.Targets, err = decodeStrings(raw, msgTargetsType); err != nil {
			return err
		}
	}
	if _, ok := obj.get("name"); ok {
		a.Name, err = obj.str("name", msgName)
	}
	return err
}

// Validate checks that no target name is empty.
func (a *RegisterWorkerArgs) Validate() error {
	for _, t := range a.Targets {
		if t == "" {
			return errors.New(msgTargetsName)
		}
	}
	return nil
}

// PokeArgs are the arguments of poke; Targets is required.
type PokeArgs struct {
	Targets []string `json:"targets"`
}

// UnmarshalJSON decodes strictly: targets must be an array of strings.
func (a *PokeArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	raw, _ := obj.get("targets")
	a.Targets, err = decodeStrings(raw, msgTargetsType)
	return err
}

// Validate checks for a non-empty list of names.
func (a *PokeArgs) Validate() error { return validateTargets(a.Targets) }

// MasterStatusArgs are the arguments of the master's status.
type MasterStatusArgs struct {
	PollWorkers bool `json:"poll_workers"`
}

// UnmarshalJSON accepts a boolean, or 0/1 as PHP clients may send.
func (a *MasterStatusArgs) UnmarshalJSON(b []byte) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	*a = MasterStatusArgs{}
	raw, ok := obj.get("poll_workers")
	if !ok {
		return nil
	}
	if json.Unmarshal(raw, &a.PollWorkers) == nil {
		return nil
	}
	n, isInt := parseInt(raw)
	if !isInt || (n != 0 && n != 1) {
		return errors.New(msgPollWorkers)
	}
	a.PollWorkers = n == 1
	return nil
}

// ManualJob names one job for the master's run-manual.
type ManualJob struct {
	ID     int64  `json:"id"`
	Target string `json:"target"`
}

// MasterRunManualArgs are the arguments of the master's run-manual.
type MasterRunManualArgs struct {
	Jobs []ManualJob `json:"jobs"`
}

// UnmarshalJSON decodes strictly: every id must be a JSON integer, every
// target a string.
func (a *MasterRunManualArgs) UnmarshalJSON(b []byte) error {
	*a = MasterRunManualArgs{}
	return decodeJobList(b, func(job argObj) error {
		id, err := job.integer("id", msgJobID)
		if err != nil {
			return err
		}
		target, err := job.str("target", msgTarget)
		if err != nil {
			return argError("job %d: %s", id, msgTarget)
		}
		a.Jobs = append(a.Jobs, ManualJob{ID: id, Target: target})
		return nil
	})
}

// Validate checks for at least one job, each with a positive id and a target.
func (a *MasterRunManualArgs) Validate() error {
	if len(a.Jobs) == 0 {
		return errors.New(msgJobsEmpty)
	}
	for _, j := range a.Jobs {
		if err := validateJobID(j.ID); err != nil {
			return err
		}
		if j.Target == "" {
			return argError("job %d: %s", j.ID, msgTarget)
		}
	}
	return nil
}

// SignalJob names one job and the signal to send it, for the master's
// send-signal.
type SignalJob struct {
	ID     int64  `json:"id"`
	Signal int    `json:"signal"`
	Target string `json:"target"`
}

// MasterSendSignalArgs are the arguments of the master's send-signal.
type MasterSendSignalArgs struct {
	Jobs []SignalJob `json:"jobs"`
}

// UnmarshalJSON decodes strictly: id and signal must be JSON integers,
// target a string.
func (a *MasterSendSignalArgs) UnmarshalJSON(b []byte) error {
	*a = MasterSendSignalArgs{}
	return decodeJobList(b, func(job argObj) error {
		id, err := job.integer("id", msgJobID)
		if err != nil {
			return err
		}
		sig, err := job.integer("signal", msgSignal)
		if err != nil || sig != int64(int(sig)) {
			return argError("job %d: %s", id, msgSignal)
		}
		target, err := job.str("target", msgTarget)
		if err != nil {
			return argError("job %d: %s", id, msgTarget)
		}
		a.Jobs = append(a.Jobs, SignalJob{ID: id, Signal: int(sig), Target: target})
		return nil
	})
}

// Validate checks for at least one job, each with a positive id, a signal
// from 1 to 64 and a target.
func (a *MasterSendSignalArgs) Validate() error {
	if len(a.Jobs) == 0 {
		return errors.New(msgJobsEmpty)
	}
	for _, j := range a.Jobs {
		if err := validateJobID(j.ID); err != nil {
			return err
		}
		if err := validateSignal(j.ID, j.Signal); err != nil {
			return err
		}
		if j.Target == "" {
			return argError("job %d: %s", j.ID, msgTarget)
		}
	}
	return nil
}

// argObj is a decoded JSON object of arguments.
type argObj map[string]json.RawMessage

// argObject decodes the data of a request; null counts as {}.
func argObject(b []byte) (argObj, error) {
	if isNull(b) {
		return argObj{}, nil
	}
	obj, ok := parseObject(b)
	if !ok {
		return nil, errors.New(msgDataNotObject)
	}
	return obj, nil
}

// get returns the member key unless it is absent or null.
func (o argObj) get(key string) (json.RawMessage, bool) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// str returns the string member key, or an error with msg.
func (o argObj) str(key, msg string) (string, error) {
	raw, _ := o.get(key)
	var s string
	if raw == nil || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", errors.New(msg)
	}
	return s, nil
}

// integer returns the integer member key, or an error with msg.
func (o argObj) integer(key, msg string) (int64, error) {
	raw, _ := o.get(key)
	n, ok := parseInt(raw)
	if !ok {
		return 0, argError("%s, got %s", msg, quoteRaw(raw))
	}
	return n, nil
}

// decodeStrings decodes an array of strings; nil raw gives nil.
func decodeStrings(raw json.RawMessage, msg string) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil || elems == nil {
		return nil, argError("%s, got %s", msg, quote(raw))
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &out[i]) != nil {
			return nil, argError("%s, got %s", msg, quote(e))
		}
	}
	return out, nil
}

// decodeJobList decodes {"jobs": [{...}, ...]}, calling each for every job.
func decodeJobList(b []byte, each func(argObj) error) error {
	obj, err := argObject(b)
	if err != nil {
		return err
	}
	raw, _ := obj.get("jobs")
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil || elems == nil {
		return errors.New(msgJobsList)
	}
	for _, e := range elems {
		job, ok := parseObject(e)
		if !ok {
			return argError("%s, got %s", msgJobsList, quote(e))
		}
		if err := each(job); err != nil {
			return err
		}
	}
	return nil
}

func quoteRaw(raw json.RawMessage) string {
	if raw == nil {
		return "nothing"
	}
	return quote(raw)
}
