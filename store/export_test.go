package store

import "context"

// ClaimTxForTest runs a claim's two requests with a SELECT and UPDATEs of
// the test's choosing, each expected to change one row.
func (s *Store) ClaimTxForTest(ctx context.Context, query string, updates []string) ([]int64, error) {
	return s.claimTx(ctx, query, nil, func([]jobRow) []claimStmt {
		var stmts []claimStmt
		for _, u := range updates {
			stmts = append(stmts, claimStmt{query: u, want: 1})
		}
		return stmts
	})
}

// ClaimConnInTransaction reports whether the next connection the claim pool
// hands out has a transaction open.
func (s *Store) ClaimConnInTransaction(ctx context.Context) (bool, error) {
	conn, err := s.claimDB.Connx(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var in bool
	err = conn.QueryRowxContext(ctx, "SELECT @@in_transaction").Scan(&in)
	return in, err
}

// JobColumnsForTest is the columns a claim's SELECT reads.
const JobColumnsForTest = jobColumns

// HeldPlans explains the queries for the jobs an instance holds and the
// jobs dead instances hold.
func (s *Store) HeldPlans(ctx context.Context) ([]PlanRow, error) {
	by, err := s.explain(ctx, s.heldByQuery(), 1)
	if err != nil {
		return nil, err
	}
	dead, err := s.explain(ctx, s.heldByDeadQuery(), 0, 0, 1000)
	return append(by, dead...), err
}
