package gym

import (
	"encoding/json"
	"fmt"
)

// Status says what happened to one step, independent of its reward.
//
// StatusOK is the only grounded status: the action executed. Invalid actions
// are the agent's fault and belong in the learning signal. ENV_ERROR,
// TIMEOUT and CRASHED are infrastructure failures: a trainer should drop
// such steps (and usually the whole episode) from its loss instead of
// scoring them as failures of the policy.
type Status int

const (
	StatusOK            Status = iota // the action executed
	StatusInvalidAction               // unparsable or impossible action; the observation says why
	StatusEnvError                    // the env failed on a well-formed action
	StatusTimeout                     // the step did not finish before its deadline
	StatusCrashed                     // the env process died during the step
)

var statusNames = [...]string{"OK", "INVALID_ACTION", "ENV_ERROR", "TIMEOUT", "CRASHED"}

// String returns the wire name, e.g. "INVALID_ACTION".
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Grounded reports whether the action executed.
func (s Status) Grounded() bool { return s == StatusOK }

// Infra reports whether the step failed for reasons outside the agent's
// control. Such steps must not be scored as the agent's failure.
func (s Status) Infra() bool {
	return s == StatusEnvError || s == StatusTimeout || s == StatusCrashed
}

// ParseStatus is the inverse of String.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("gym: unknown status %q (want one of %v)", name, statusNames)
}

// MarshalJSON writes the status as its name so JSONL stays readable.
func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a status name.
func (s *Status) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("gym: status must be a string: %w", err)
	}
	v, err := ParseStatus(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
