// The project page: while any run is running, swap in a fresh runs table every few seconds.
"use strict";

(() => {
  const box = document.getElementById("runs-table");
  if (!box) return;
  const running = () => box.querySelector("[data-running=true]") !== null;
  if (!running()) return;
  Daybreak.poll(async () => {
    box.innerHTML = await Daybreak.getText(box.dataset.src);
    Daybreak.localiseTimes(box);
    return running();
  }, 3000);
})();
