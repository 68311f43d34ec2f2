import Foundation
import Testing

@testable import SwitchboardCore

@Suite struct ProcessResourcesTests {
    @Test func readsThisProcess() throws {
        let own = try #require(ProcessResources.residentKiB())
        #expect(own > 0)
        #expect(ProcessResources.residentKiB(pid: getpid()).map { abs($0 - own) < 64 * 1024 } == true)
        #expect(ProcessResources.openFiles() > 2)
        let limit = ProcessResources.openFileLimit()
        #expect(limit.soft > 0 && limit.soft <= limit.hard)
    }

    @Test func unknownProcessHasNoMemory() {
        #expect(ProcessResources.residentKiB(pid: Int32.max) == nil)
    }
}
