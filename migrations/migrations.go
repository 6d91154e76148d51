// Package migrations holds jobd's schema as numbered up/down SQL files,
// embedded in the binary and run by golang-migrate.
//
// The files are templates: the jobs table is named in the config (default
// "jobs"), so {{.Table}} and {{.Instances}} stand for the quoted table names,
// and addColumn/addIndex/dropColumn/dropIndex expand to statements that act
// only when the column or index is (or is not) there yet. Those expansions use
// information_schema and a prepared statement instead of MariaDB's
// "ADD COLUMN IF NOT EXISTS", so the same files run on MySQL 8 too.
package migrations

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/template"

	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed sql/*.sql
var files embed.FS

var tableNameRE = regexp.MustCompile(`^[A-Za-z0-9_$]{1,48}$`)

// ValidateTable reports whether name can be used as the jobs table name.
// Names are kept to plain identifiers (letters, digits, _ and $, at most 48
// characters so the derived table names stay within MySQL's 64).
func ValidateTable(name string) error {
	if !tableNameRE.MatchString(name) {
		return fmt.Errorf("table name %q is not a plain identifier (letters, digits, _ or $, at most 48 characters)", name)
	}
	return nil
}

// InstancesTable is the name of the table of jobd instances for a jobs table.
func InstancesTable(table string) string { return table + "_instances" }

// HistoryTable is the name of golang-migrate's version table for a jobs table.
func HistoryTable(table string) string { return table + "_schema_migrations" }

// Source returns a golang-migrate source that yields the migrations rendered
// for the given jobs table.
func Source(table string) (source.Driver, error) {
	if err := ValidateTable(table); err != nil {
		return nil, err
	}
	inner, err := iofs.New(files, "sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &renderer{Driver: inner, table: table}, nil
}

// renderer renders each migration file as a template before golang-migrate
// executes it. Everything else is the embedded iofs source.
type renderer struct {
	source.Driver
	table string
}

func (r *renderer) ReadUp(version uint) (io.ReadCloser, string, error) {
	return r.render(r.Driver.ReadUp(version))
}

func (r *renderer) ReadDown(version uint) (io.ReadCloser, string, error) {
	return r.render(r.Driver.ReadDown(version))
}

func (r *renderer) render(rc io.ReadCloser, id string, err error) (io.ReadCloser, string, error) {
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	text, err := io.ReadAll(rc)
	if err != nil {
		return nil, "", fmt.Errorf("migration %s: %w", id, err)
	}
	out, err := Render(string(text), r.table)
	if err != nil {
		return nil, "", fmt.Errorf("migration %s: %w", id, err)
	}
	return io.NopCloser(strings.NewReader(out)), id, nil
}

// Render expands one migration template for the given jobs table.
func Render(text, table string) (string, error) {
	funcs := template.FuncMap{
		"addColumn": func(name, def string) string {
			return ifColumn(table, name, false, fmt.Sprintf("ALTER TABLE `%s` ADD COLUMN `%s` %s", table, name, def))
		},
		"dropColumn": func(name string) string {
			return ifColumn(table, name, true, fmt.Sprintf("ALTER TABLE `%s` DROP COLUMN `%s`", table, name))
		},
		"addIndex": func(name, cols string) string {
			return ifIndex(table, name, false, fmt.Sprintf("ALTER TABLE `%s` ADD INDEX `%s` %s", table, name, cols))
		},
		"dropIndex": func(name string) string {
			return ifIndex(table, name, true, fmt.Sprintf("ALTER TABLE `%s` DROP INDEX `%s`", table, name))
		},
	}
	tmpl, err := template.New("migration").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	data := map[string]string{
		"Table":     "`" + table + "`",
		"Instances": "`" + InstancesTable(table) + "`",
	}
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func ifColumn(table, column string, exists bool, ddl string) string {
	cond := fmt.Sprintf("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'", table, column)
	return conditional(cond, exists, ddl)
}

func ifIndex(table, index string, exists bool, ddl string) string {
	cond := fmt.Sprintf("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' AND INDEX_NAME = '%s'", table, index)
	return conditional(cond, exists, ddl)
}

// conditional runs ddl when the count query finds something (exists) or
// nothing (!exists).
func conditional(countQuery string, exists bool, ddl string) string {
	test := "= 0"
	if exists {
		test = "> 0"
	}
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(ddl)
	return fmt.Sprintf("SET @jobd_ddl = IF((%s) %s, '%s', 'DO 0');\nPREPARE jobd_ddl_stmt FROM @jobd_ddl;\nEXECUTE jobd_ddl_stmt;\nDEALLOCATE PREPARE jobd_ddl_stmt;",
		countQuery, test, quoted)
}
