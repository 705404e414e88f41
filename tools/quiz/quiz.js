/* "Check your understanding": checks the answers of the quizzes that tools/course_site.py writes
 * as plain HTML forms (one <form class="tl-quiz-question"> per question). Everything happens in
 * the reader's browser: no kernel, no network. A multiple-choice question keeps the index of its
 * right choice in data-answer; a number question its answer and tolerance (data-answer,
 * data-tolerance). After each check the feedback is written into an aria-live region (screen
 * readers announce it) and the explanation is shown. */
(function () {
  "use strict";

  // "1,234.5", "1 234.5", "−3", "15%", "3.1e23" -> a number; anything else -> NaN
  function parseNumber(text) {
    var s = String(text).trim().replace(/\u2212/g, "-").replace(/[\s,\u00a0\u202f_]/g, "");
    s = s.replace(/%$/, "").replace(/[x×]10\^?([-+]?\d+)$/i, "e$1");
    if (!/^[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i.test(s)) return NaN;
    return parseFloat(s);
  }

  function show(form, state, message) {
    var feedback = form.querySelector(".tl-quiz-feedback");
    var explanation = form.querySelector(".tl-quiz-explanation");
    form.setAttribute("data-state", state);
    feedback.textContent = message;
    if (explanation) explanation.hidden = state === "empty";
  }

  function check(form) {
    var kind = form.getAttribute("data-kind");
    if (kind === "choice") {
      var picked = form.querySelector("input[type=radio]:checked");
      if (!picked) {
        show(form, "empty", "Choose an answer first.");
        return;
      }
      var right = picked.value === form.getAttribute("data-answer");
      show(form, right ? "right" : "wrong",
           right ? "\u2713 Correct." : "\u2717 Not quite: that is not the right choice.");
      return;
    }
    var input = form.querySelector("input[type=text]");
    var value = parseNumber(input.value);
    if (isNaN(value)) {
      input.setAttribute("aria-invalid", "true");
      show(form, "empty", "Write a number, for example 0.25 or 12,000.");
      return;
    }
    var answer = parseFloat(form.getAttribute("data-answer"));
    var tolerance = parseFloat(form.getAttribute("data-tolerance"));
    var ok = Math.abs(value - answer) <= tolerance + 1e-9 * Math.max(1, Math.abs(answer));
    input.setAttribute("aria-invalid", ok ? "false" : "true");
    show(form, ok ? "right" : "wrong",
         ok ? "\u2713 Correct." : "\u2717 Not quite: " + (value < answer ? "too small." : "too large."));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.classList || !form.classList.contains("tl-quiz-question")) return;
    event.preventDefault();
    check(form);
  });
})();
