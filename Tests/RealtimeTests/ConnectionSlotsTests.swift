import Testing

@testable import Realtime

@Suite struct ConnectionSlotsTests {
    @Test func reservesUpToTheLimitAndGivesBack() {
        let slots = ConnectionSlots(limit: 2)
        #expect(slots.reserve() && slots.reserve())
        #expect(!slots.reserve() && !slots.hasRoom && slots.count == 2)
        slots.release()
        #expect(slots.hasRoom && slots.reserve() && slots.count == 2)
    }

    @Test func withoutALimitEveryReservationPasses() {
        let slots = ConnectionSlots(limit: nil)
        for _ in 0..<100 { #expect(slots.reserve()) }
        #expect(slots.count == 100 && slots.hasRoom)
    }

    @Test func racingReservationsNeverPassTheLimit() async {
        let slots = ConnectionSlots(limit: 50)
        let granted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<400 { group.addTask { slots.reserve() } }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        #expect(granted == 50 && slots.count == 50)
    }
}
