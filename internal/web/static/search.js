// Suggestions for the header's search box: a <datalist> filled from
// GET /api/v1/suggest as the user types. Without JavaScript the box still
// submits to /search; this only adds the list.
(function () {
  var input = document.getElementById("site-q");
  var list = document.getElementById("site-suggest");
  if (!input || !list || !window.fetch) return;
  var timer = 0, last = "", ctrl = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value;
      if (q === last || q.trim() === "") return;
      last = q;
      if (ctrl) ctrl.abort();
      ctrl = window.AbortController ? new AbortController() : null;
      fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), { signal: ctrl && ctrl.signal })
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) {
          list.textContent = "";
          (data.suggestions || []).forEach(function (s) {
            var o = document.createElement("option");
            o.value = s;
            list.appendChild(o);
          });
        })
        .catch(function () {});
    }, 150);
  });
})();
