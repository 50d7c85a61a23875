export { EnhancedEventEmitter, enhancedOnce } from './enhancedEvents';
