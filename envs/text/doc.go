// Package text is a family of small, seeded, multi-step text environments:
// grids of rooms with coloured keys, locked doors of the same colours and a
// treasure to reach. They are cheap (a Step takes microseconds), fully
// deterministic under a seed, give shaped partial rewards, and come with a
// scripted optimal solver, which makes them the fixture for tests and
// benchmarks of the plugin host and the trainer.
//
// Ids:
//
//	text/maze-v0      a perfect maze of rooms; every door lies on the way
//	                  from the start to the treasure
//	text/corridor-v0  an east-west corridor cut by doors, whose keys lie in
//	                  side rooms (behind more locked doors on "hard")
//
// Actions are plain English ("go north", "take red key", "open red door",
// "look"), parsed case-insensitively; every observation lists the actions
// that apply in the current room.
package text
