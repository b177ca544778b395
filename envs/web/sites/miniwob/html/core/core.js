// envgym's stand-in for MiniWoB++'s core/core.js: the same contract (the
// WOB_* globals, core.startEpisode/startEpisodeReal/endEpisode/
// getUtterance/clearTimer/createDisplay/canvasDrawClick, Math.seedrandom,
// the #query, #reward-display, #click-canvas and #sync-task-cover
// elements) in a few lines of our own, so the gym's MiniWoB++ support is
// tested without shipping MiniWoB++ files.
var WOB_REWARD_GLOBAL = 0;
var WOB_RAW_REWARD_GLOBAL = 0;
var WOB_REWARD_REASON = null;
var WOB_DONE_GLOBAL = false;
var WOB_EPISODE_ID = 0;
var WOB_TASK_READY = false;

var core = {};
core.EPISODE_MAX_TIME = 10000; // ms; a human gets 10 s
core.timer = null;

// Math.seedrandom(seed) makes Math.random a seeded generator (mulberry32
// over a string hash of the seed).
Math.seedrandom = function (seed) {
  var h = 1779033703;
  var s = String(seed);
  for (var i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  var a = h >>> 0;
  Math.random = function () {
    a = (a + 0x6d2b79f5) >>> 0;
    var t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

core.createDisplay = function () {
  if (document.getElementById('reward-display')) return;
  var d = document.createElement('div');
  d.id = 'reward-display';
  d.innerHTML = '<span>Last reward: <b id="reward-last">-</b></span> <span>Time left: <b id="timer-countdown">-</b></span>';
  document.body.appendChild(d);
  var c = document.createElement('canvas');
  c.id = 'click-canvas';
  c.width = 160; c.height = 160;
  document.body.appendChild(c);
};

core.canvasDrawClick = function (e) {
  var c = document.getElementById('click-canvas');
  if (!c) return;
  var g = c.getContext('2d');
  g.fillRect(e.pageX % 160, e.pageY % 160, 2, 2);
};

// startEpisode shows the human's START cover; a click starts the episode.
core.startEpisode = function () {
  core.createDisplay();
  var cover = document.getElementById('sync-task-cover');
  if (!cover) {
    cover = document.createElement('div');
    cover.id = 'sync-task-cover';
    cover.textContent = 'START';
    cover.style.cssText = 'position:absolute;left:0;top:0;width:160px;height:210px;background:#fff;';
    document.body.appendChild(cover);
  }
  cover.style.display = 'block';
  cover.onclick = function () { cover.style.display = 'none'; core.startEpisodeReal(); };
};

core.startEpisodeReal = function () {
  WOB_DONE_GLOBAL = false;
  WOB_REWARD_GLOBAL = 0;
  WOB_RAW_REWARD_GLOBAL = 0;
  WOB_REWARD_REASON = null;
  WOB_EPISODE_ID++;
  document.getElementById('area').innerHTML = '';
  genProblem();
  core.ept0 = Date.now();
  core.startTimer();
  WOB_TASK_READY = true;
};

core.startTimer = function () {
  core.clearTimer();
  core.timer = setInterval(function () {
    var left = core.EPISODE_MAX_TIME - (Date.now() - core.ept0);
    var el = document.getElementById('timer-countdown');
    if (el) el.textContent = Math.max(0, Math.round(left / 1000)) + ' sec';
    if (left <= 0) core.endEpisode(-1, false, 'timed out');
  }, 1000);
};

core.clearTimer = function () {
  if (core.timer) clearInterval(core.timer);
  core.timer = null;
};

// endEpisode records the outcome once: the raw reward, and the reward
// discounted by the time taken when timeProportional.
core.endEpisode = function (reward, timeProportional, reason) {
  if (WOB_DONE_GLOBAL) return;
  core.clearTimer();
  WOB_RAW_REWARD_GLOBAL = reward;
  var r = reward;
  if (timeProportional && reward > 0) {
    r = reward * Math.max(0, 1 - (Date.now() - core.ept0) / core.EPISODE_MAX_TIME);
  }
  WOB_REWARD_GLOBAL = r;
  WOB_REWARD_REASON = reason || null;
  WOB_DONE_GLOBAL = true;
  var el = document.getElementById('reward-last');
  if (el) el.textContent = r.toFixed(2);
};

core.getUtterance = function () {
  var q = document.getElementById('query');
  return q ? q.textContent : '';
};

core.sample = function (list) { return list[Math.floor(Math.random() * list.length)]; };
core.shuffle = function (list) {
  for (var i = list.length - 1; i > 0; i--) {
    var j = Math.floor(Math.random() * (i + 1));
    var t = list[i]; list[i] = list[j]; list[j] = t;
  }
  return list;
};
core.WORDS = ['apple', 'river', 'stone', 'cloud', 'maple', 'tiger', 'lemon', 'piano', 'comet', 'ocean'];
