// The MessageStore contract suite against FakeMessageStore, so the fake the
// upper layers' tests rely on behaves like a real backend.
#include "storage/message_store_contract.h"
#include "testing/fake_message_store.h"

namespace ds::storage {

INSTANTIATE_MESSAGE_STORE_CONTRACT(Fake, [] { return std::make_shared<FakeMessageStore>(); });

}  // namespace ds::storage
