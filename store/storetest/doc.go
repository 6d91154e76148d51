// Package storetest gives tests a real MariaDB: a private server started
// once per test binary (temporary data directory, random port), a fresh
// database for each test, and dedicated servers that fault tests may stop,
// restart, freeze and kill.
//
// With JOBD_TEST_MYSQL_DSN set (for example "root@tcp(127.0.0.1:3306)/"),
// the shared databases are created on that server instead. When no server can
// be had, the test fails with a message saying how to get one; it is never
// skipped.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
package storetest
