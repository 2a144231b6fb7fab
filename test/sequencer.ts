/**
 * The order of the files of `vitest run`: vitest's own (larger or slower files first), but the
 * CPU-bound fuzz last. `npm test` boots the VM tier beside the first part of the run
 * (scripts/test/test-all.mjs); the fuzz, which keeps both cores busy with mediator start-ups, then runs
 * once qemu is done instead of competing with it.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

const LAST = [/\/test\/integration\/security\/fuzz\.test\.ts$/];

export default class RunSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const last = (spec: TestSpecification) => LAST.some((pattern) => pattern.test(spec.moduleId));
    return [...sorted.filter((spec) => !last(spec)), ...sorted.filter(last)];
  }
}
