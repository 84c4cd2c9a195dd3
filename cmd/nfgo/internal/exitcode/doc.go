// Package exitcode is how nfgo's commands tell its main what to exit
// with: an Error carries an exit status, and a usage error (a wrong
// command line) exits 2.
package exitcode
