package rpc

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// argCase is request data and what decoding it into a fresh value of the
// case's type gives: the value, or the error text.
type argCase struct {
	data string // "" = data omitted
	want any    // a pointer to the expected value, when err is ""
	err  string
}

func checkArgs[T any](t *testing.T, cases []argCase) {
	t.Helper()
	for _, tc := range cases {
		req := &Request{No: 1, Type: "x"}
		if tc.data != "" {
			req.Data = json.RawMessage(tc.data)
		}
		got := new(T)
		err := req.Decode(got)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, "data %s", tc.data)
			continue
		}
		require.NoError(t, err, "data %s", tc.data)
		require.Equal(t, tc.want, got, "data %s", tc.data)
	}
}

func TestTargetsArgs(t *testing.T) {
	t.Parallel()
	checkArgs[TargetsArgs](t, []argCase{
		{"", &TargetsArgs{}, ""},
		{`{}`, &TargetsArgs{}, ""},
		{`null`, &TargetsArgs{}, ""},
		{`{"targets":null}`, &TargetsArgs{}, ""},
		{`{"targets":["1/low","any"]}`, &TargetsArgs{Targets: []string{"1/low", "any"}}, ""},
		{`{"targets":[]}`, nil, "targets must not be empty"},
		{`{"targets":[""]}`, nil, "targets must not contain an empty name"},
		{`{"targets":"any"}`, nil, `targets must be an array of target names, got "any"`},
		{`{"targets":["a",5]}`, nil, "targets must be an array of target names, got 5"},
		{`{"targets":["a",null]}`, nil, "targets must be an array of target names, got null"},
		{`[1]`, nil, "data must be an object"},
	})
	require.NoError(t, (&TargetsArgs{}).Validate(), "nil targets mean all")
	require.EqualError(t, (&TargetsArgs{Targets: []string{}}).Validate(), "targets must not be empty", "an empty list is not 'all'")
}

func TestTargetConcurrencyArgs(t *testing.T) {
	t.Parallel()
	checkArgs[TargetConcurrencyArgs](t, []argCase{
		{`{"target":"any","concurrency":5}`, &TargetConcurrencyArgs{Target: "any", Concurrency: 5}, ""},
		{`{"target":"any","concurrency":5.0}`, &TargetConcurrencyArgs{Target: "any", Concurrency: 5}, ""},
		{`{"target":"any","concurrency":0}`, nil, "concurrency must be a positive integer"},
		{`{"target":"any","concurrency":-1}`, nil, "concurrency must be a positive integer"},
		{`{"target":"any","concurrency":1.5}`, nil, "concurrency must be a positive integer"},
		{`{"target":"any","concurrency":"5"}`, nil, "concurrency must be a positive integer"},
		{`{"target":"any"}`, nil, "concurrency must be a positive integer"},
		{`{"target":"","concurrency":1}`, nil, "target must be a non-empty string"},
		{`{"target":5,"concurrency":1}`, nil, "target must be a non-empty string"},
		{`{"concurrency":1}`, nil, "target must be a non-empty string"},
		{"", nil, "target must be a non-empty string"},
	})
}

func TestRemoveTargetArgs(t *testing.T) {
	t.Parallel()
	checkArgs[RemoveTargetArgs](t, []argCase{
		{`{"target":"any"}`, &RemoveTargetArgs{Target: "any"}, ""},
		{`{"target":""}`, nil, "target must be a non-empty string"},
		{`{"target":["any"]}`, nil, "target must be a non-empty string"},
		{`{}`, nil, "target must be a non-empty string"},
	})
}

func TestRunManualArgs(t *testing.T) {
	t.Parallel()
	checkArgs[RunManualArgs](t, []argCase{
		{`{"ids":[1,2,3]}`, &RunManualArgs{IDs: []int64{1, 2, 3}}, ""},
		{`{"ids":[3.0]}`, &RunManualArgs{IDs: []int64{3}}, ""},
		{`{"ids":[1,1.5]}`, nil, "ids must be an array of integer job ids, got 1.5"},
		{`{"ids":["3"]}`, nil, `ids must be an array of integer job ids, got "3"`},
		{`{"ids":[null]}`, nil, "ids must be an array of integer job ids, got null"},
		{`{"ids":[]}`, nil, "ids must not be empty"},
		{`{"ids":[0]}`, nil, "job id must be a positive integer, got 0"},
		{`{"ids":5}`, nil, "ids must be an array of integer job ids"},
		{`{}`, nil, "ids must be an array of integer job ids"},
	})
}

func TestSendSignalArgs(t *testing.T) {
	t.Parallel()
	checkArgs[SendSignalArgs](t, []argCase{
		{`{"jobs":{"12":15,"13":9}}`, &SendSignalArgs{Jobs: map[string]int{"12": 15, "13": 9}}, ""},
		{`{"jobs":{"12":64}}`, &SendSignalArgs{Jobs: map[string]int{"12": 64}}, ""},
		{`{"jobs":{"12":0}}`, nil, "job 12: signal must be an integer from 1 to 64, got 0"},
		{`{"jobs":{"12":65}}`, nil, "job 12: signal must be an integer from 1 to 64, got 65"},
		{`{"jobs":{"12":"TERM"}}`, nil, `job 12: signal must be an integer from 1 to 64, got "TERM"`},
		{`{"jobs":{"x":15}}`, nil, `job id must be a positive integer, got "x"`},
		{`{"jobs":{"012":15}}`, nil, `job id must be a positive integer, got "012"`},
		{`{"jobs":{"-1":15}}`, nil, "job id must be a positive integer, got -1"},
		{`{"jobs":{}}`, nil, "jobs must not be empty"},
		{`{"jobs":[15]}`, nil, `jobs must be an object mapping job ids to signal numbers, like {"123": 15}`},
		{`{}`, nil, `jobs must be an object mapping job ids to signal numbers, like {"123": 15}`},
	})
	args := &SendSignalArgs{Jobs: map[string]int{"12": 15}}
	require.Equal(t, map[int64]int{12: 15}, args.IDs())
}

func TestRegisterWorkerArgs(t *testing.T) {
	t.Parallel()
	checkArgs[RegisterWorkerArgs](t, []argCase{
		{`{"targets":["a","b"],"name":"web-3"}`, &RegisterWorkerArgs{Targets: []string{"a", "b"}, Name: "web-3"}, ""},
		{`{"targets":[],"name":"web-3"}`, &RegisterWorkerArgs{Targets: []string{}, Name: "web-3"}, ""},
		{`{"name":"web-3"}`, &RegisterWorkerArgs{Targets: []string{}, Name: "web-3"}, ""},
		{`{"targets":["a"]}`, &RegisterWorkerArgs{Targets: []string{"a"}}, ""},
		{"", &RegisterWorkerArgs{Targets: []string{}}, ""},
		{`{"targets":"a","name":"web-3"}`, nil, `targets must be an array of target names, got "a"`},
		{`{"targets":[""],"name":"web-3"}`, nil, "targets must not contain an empty name"},
		{`{"targets":["a"],"name":5}`, nil, "name must be a string"},
	})
}

func TestPokeArgs(t *testing.T) {
	t.Parallel()
	checkArgs[PokeArgs](t, []argCase{
		{`{"targets":["a"]}`, &PokeArgs{Targets: []string{"a"}}, ""},
		{`{"targets":[]}`, nil, "targets must not be empty"},
		{`{}`, nil, "targets must not be empty"},
		{"", nil, "targets must not be empty"},
		{`{"targets":[1]}`, nil, "targets must be an array of target names, got 1"},
	})
}

func TestMasterStatusArgs(t *testing.T) {
	t.Parallel()
	checkArgs[MasterStatusArgs](t, []argCase{
		{"", &MasterStatusArgs{}, ""},
		{`{"poll_workers":true}`, &MasterStatusArgs{PollWorkers: true}, ""},
		{`{"poll_workers":false}`, &MasterStatusArgs{}, ""},
		{`{"poll_workers":1}`, &MasterStatusArgs{PollWorkers: true}, ""},
		{`{"poll_workers":0}`, &MasterStatusArgs{}, ""},
		{`{"poll_workers":"yes"}`, nil, "poll_workers must be a boolean"},
	})
}

func TestMasterRunManualArgs(t *testing.T) {
	t.Parallel()
	checkArgs[MasterRunManualArgs](t, []argCase{
		{`{"jobs":[{"id":1,"target":"a"},{"id":2,"target":"b"}]}`, &MasterRunManualArgs{Jobs: []ManualJob{{1, "a"}, {2, "b"}}}, ""},
		{`{"jobs":[]}`, nil, "jobs must not be empty"},
		{`{"jobs":[{"id":"1","target":"a"}]}`, nil, `job id must be a positive integer, got "1"`},
		{`{"jobs":[{"target":"a"}]}`, nil, "job id must be a positive integer, got nothing"},
		{`{"jobs":[{"id":1}]}`, nil, "job 1: target must be a non-empty string"},
		{`{"jobs":[{"id":1,"target":""}]}`, nil, "job 1: target must be a non-empty string"},
		{`{"jobs":[1]}`, nil, "jobs must be an array of objects, got 1"},
		{`{"jobs":{}}`, nil, "jobs must be an array of objects"},
	})
}

func TestMasterSendSignalArgs(t *testing.T) {
	t.Parallel()
	checkArgs[MasterSendSignalArgs](t, []argCase{
		{`{"jobs":[{"id":1,"signal":15,"target":"a"}]}`, &MasterSendSignalArgs{Jobs: []SignalJob{{1, 15, "a"}}}, ""},
		{`{"jobs":[{"id":1,"signal":99,"target":"a"}]}`, nil, "job 1: signal must be an integer from 1 to 64, got 99"},
		{`{"jobs":[{"id":1,"signal":"TERM","target":"a"}]}`, nil, "job 1: signal must be an integer from 1 to 64"},
		{`{"jobs":[{"id":0,"signal":9,"target":"a"}]}`, nil, "job id must be a positive integer, got 0"},
		{`{"jobs":[{"id":1,"signal":9}]}`, nil, "job 1: target must be a non-empty string"},
		{`{"jobs":[]}`, nil, "jobs must not be empty"},
	})
}

// Decode into a type without strict decoding still words its errors for the
// client.
func TestDecodePlainType(t *testing.T) {
	t.Parallel()
	var v struct {
		N int `json:"n"`
	}
	req := &Request{Data: json.RawMessage(`{"n":"x"}`)}
	require.EqualError(t, req.Decode(&v), "n must not be a JSON string")
	req = &Request{}
	require.NoError(t, req.Decode(&v))
	require.Zero(t, v.N)
}

// Every Args type round-trips: what a client encodes, a server decodes.
func TestArgsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		&TargetsArgs{Targets: []string{"a"}},
		&TargetConcurrencyArgs{Target: "a", Concurrency: 3},
		&RemoveTargetArgs{Target: "a"},
		&RunManualArgs{IDs: []int64{1, 2}},
		&SendSignalArgs{Jobs: map[string]int{"1": 15}},
		&RegisterWorkerArgs{Targets: []string{"a"}, Name: "w"},
		&PokeArgs{Targets: []string{"a"}},
		&MasterStatusArgs{PollWorkers: true},
		&MasterRunManualArgs{Jobs: []ManualJob{{ID: 1, Target: "a"}}},
		&MasterSendSignalArgs{Jobs: []SignalJob{{ID: 1, Signal: 9, Target: "a"}}},
	} {
		data, err := marshalData(v)
		require.NoError(t, err)
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		require.NoError(t, (&Request{Data: data}).Decode(got), "%T", v)
		require.Equal(t, v, got)
	}
}
