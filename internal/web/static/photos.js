// Photo uploads with progress. Without JavaScript the sell and edit forms
// post their photos with the form (multipart, 16 MB in all). With it, the
// form's fields are saved first without the files, then each chosen photo
// is posted on its own to /listings/{id}/photos with a progress bar, so
// several large photos fit (15 MB each) and the seller sees how far along
// each is. A refused photo shows the server's message and the others go on.
(function () {
  var form = document.querySelector("form[data-upload-form]");
  if (!form || !window.FormData || !window.XMLHttpRequest || !window.fetch) return;
  var input = form.querySelector("input[type=file][name=photo]");
  var list = form.querySelector(".upload-progress");
  if (!input || !list) return;

  // message extracts the text beside the photo field from a page.
  function message(html) {
    try {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var el = doc.getElementById("photo-error") || doc.querySelector(".error-summary, main p");
      return el ? el.textContent.trim() : "";
    } catch (e) {
      return "";
    }
  }

  function upload(url, file) {
    return new Promise(function (resolve) {
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = file.name + " ";
      var bar = document.createElement("progress");
      bar.max = file.size || 1;
      bar.value = 0;
      li.appendChild(label);
      li.appendChild(bar);
      list.appendChild(li);
      var fd = new FormData();
      fd.append("photo", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; } };
      xhr.onload = function () {
        bar.value = bar.max;
        var ok = xhr.status >= 200 && xhr.status < 300;
        var note = document.createElement("span");
        note.className = ok ? "done" : "error";
        note.textContent = ok ? " added" : " " + (message(xhr.responseText) || "could not be added (" + xhr.status + ")");
        li.appendChild(note);
        resolve(ok);
      };
      xhr.onerror = function () {
        var note = document.createElement("span");
        note.className = "error";
        note.textContent = " could not be sent; check your connection";
        li.appendChild(note);
        resolve(false);
      };
      xhr.send(fd);
    });
  }

  form.addEventListener("submit", function (ev) {
    var files = Array.prototype.slice.call(input.files || []);
    if (files.length === 0) return; // a plain submit
    ev.preventDefault();
    var fd = new FormData(form);
    fd.delete("photo");
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    list.textContent = "";
    fetch(form.action, { method: "POST", body: fd, credentials: "same-origin" })
      .then(function (r) {
        var m = r.ok && r.redirected && /^\/listings\/[0-9]+/.exec(new URL(r.url).pathname);
        if (!m) {
          // The form was refused (a message beside a field): let the
          // browser post it as usual, files and all, to show the page.
          form.submit();
          return;
        }
        var listing = m[0];
        var chain = Promise.resolve(true);
        var allOK = true;
        files.forEach(function (f) {
          chain = chain.then(function () { return upload(listing + "/photos", f); })
                       .then(function (ok) { allOK = allOK && ok; });
        });
        chain.then(function () {
          if (allOK) {
            window.location.assign(listing);
          } else {
            if (button) button.disabled = false;
            var a = document.createElement("a");
            a.href = listing + "/edit";
            a.textContent = "Continue to the listing's photos";
            var li = document.createElement("li");
            li.appendChild(a);
            list.appendChild(li);
          }
        });
      })
      .catch(function () { form.submit(); });
  });
})();
